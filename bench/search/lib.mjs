// Shared by bench/search/run.mjs and bench/ingest/run.mjs: a private build of the server
// sources, drivers, statistics, machine info and CPU accounting.

import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setupTenant as setupTenantVia } from '../lib/api.mjs';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const SERVER_PKG = path.join(REPO_ROOT, 'packages', 'server');
export const SERVER_SRC = path.join(SERVER_PKG, 'src');

/** better-sqlite3 and pg as the server itself resolves them. */
export const serverRequire = createRequire(path.join(SERVER_PKG, 'package.json'));

export const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

/**
 * Bundles the *current* packages/server sources (not packages/server/dist, which other people
 * rebuild while we run) into bench/search/.build/server.js, exporting the public API plus the
 * internals the benches call directly (tokenize, searchMessages, ingestBatch). Dependencies stay
 * external and resolve from the workspace's node_modules (the output is inside the repo).
 */
export async function buildServer({
  srcDir = SERVER_SRC,
  outDir = path.join(HERE, '.build'),
} = {}) {
  fs.mkdirSync(outDir, { recursive: true });
  const esbuild = createRequire(path.join(REPO_ROOT, 'package.json'))('esbuild');
  const src = (p) => JSON.stringify(path.join(srcDir, p));
  const outfile = path.join(outDir, 'dist', 'server.js');
  await esbuild.build({
    stdin: {
      contents: [
        `export * from ${src('index.ts')};`,
        `export { searchMessages } from ${src('search/index.ts')};`,
        `export { tokenize, planQuery, toFts5, toTsquery } from ${src('search/tokenize.ts')};`,
        `export { ingestBatch, parseBatch } from ${src('ingest/service.ts')};`,
      ].join('\n'),
      resolveDir: srcDir,
      loader: 'ts',
      sourcefile: 'bench-entry.ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    outfile,
    logLevel: 'warning',
  });
  return { entry: outfile, built_at: new Date().toISOString(), gitStatus: serverGitStatus() };
}

/**
 * Builds packages/server/src with patches applied to a *copy* (under `workDir`), so an
 * experiment never touches the shared working tree. Patches are unified diffs relative to
 * packages/server (`a/src/...`), applied with `patch -p1`.
 */
export async function buildPatchedServer(patchFiles, workDir) {
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  fs.cpSync(SERVER_SRC, path.join(workDir, 'src'), {
    recursive: true,
    filter: (p) => !p.endsWith('.test.ts'),
  });
  for (const f of patchFiles) {
    execFileSync('patch', ['-p1', '--forward', '--batch', '-d', workDir, '-i', path.resolve(f)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  }
  const built = await buildServer({ srcDir: path.join(workDir, 'src'), outDir: workDir });
  return { ...built, patches: patchFiles.map((f) => path.basename(f)) };
}

export async function importServer(entry) {
  return import(`${pathToFileURL(entry).href}?t=${fs.statSync(entry).mtimeMs}`);
}

function serverGitStatus() {
  try {
    return execFileSync('git', ['status', '--porcelain', '--', 'packages/server/src'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
  } catch {
    return null;
  }
}

// ---- statistics -----------------------------------------------------------------------------

export function stats(samples) {
  const a = [...samples].sort((x, y) => x - y);
  const q = (p) => a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))];
  const mean = a.reduce((s, x) => s + x, 0) / (a.length || 1);
  return { n: a.length, mean, p50: q(0.5), p95: q(0.95), p99: q(0.99), min: a[0], max: a.at(-1) };
}

export const r1 = (x) => (x == null || Number.isNaN(x) ? null : Math.round(x * 10) / 10);
export const r2 = (x) => (x == null || Number.isNaN(x) ? null : Math.round(x * 100) / 100);

/** Deterministic PRNG (mulberry32). */
export function rng(seed) {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = t;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export function mdTable(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [
    line(headers),
    line(headers.map(() => '---')),
    ...rows.map((r) => line(r.map((c) => (c === null || c === undefined ? '–' : String(c))))),
  ].join('\n');
}

// ---- machine and load -----------------------------------------------------------------------

const read = (p) => {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
};

export function machineInfo() {
  const cpuinfo = read('/proc/cpuinfo') ?? '';
  const run = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  };
  return {
    date_utc: run('date', ['-u']),
    nproc: Number(run('nproc', [])) || os.availableParallelism(),
    cpu_model: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model,
    ram_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    loadavg: os.loadavg().map(r2),
    git_head: run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']),
  };
}

const CLK_TCK = 100;
function systemJiffies() {
  const line = read('/proc/stat')?.split('\n')[0];
  if (!line) return null;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  return { busy: v.slice(0, 8).reduce((a, b) => a + (b || 0), 0) - idle };
}
function procCpu(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/**
 * CPU use during a measurement, in cores: by the given pids (ours: bench + server child, and
 * for PostgreSQL the backends are counted as "other"), and by everything else on the machine.
 */
export function cpuMeter(pids = []) {
  const t0 = performance.now();
  const sys0 = systemJiffies();
  const p0 = pids.map(procCpu);
  const me0 = process.cpuUsage();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const sys1 = systemJiffies();
    const me = process.cpuUsage(me0);
    // A process that exited meanwhile counts as idle since it started (we lose its last use).
    const mine =
      (me.user + me.system) / 1e6 +
      pids.reduce((s, p, i) => s + (p0[i] === null ? 0 : (procCpu(p) ?? p0[i]) - p0[i]), 0);
    const machine = sys0 && sys1 ? (sys1.busy - sys0.busy) / CLK_TCK / wall : null;
    return {
      ours_cores: r2(mine / wall),
      machine_cores: r2(machine),
      other_cores: machine === null ? null : r2(Math.max(0, machine - mine / wall)),
      loadavg_1m: r2(os.loadavg()[0]),
    };
  };
}

/** Percentage helper. */
export const pct = (a, b) => (b ? `${r2((100 * a) / b)}%` : '–');

export const argValue = (argv, name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < argv.length) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : dflt;
};

// ---- the server child -----------------------------------------------------------------------

/** Starts bench/search/server-child.mjs; resolves once it listens. */
export function startServerChild({ entry, env, execArgv = [], stdout = 'ignore' }) {
  const child = fork(path.join(HERE, 'server-child.mjs'), [], {
    env: { ...process.env, BENCH_SERVER_ENTRY: entry, ...env },
    execArgv,
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`server child exited with ${code}`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      if (m?.type !== 'ready') return reject(new Error(`unexpected ${JSON.stringify(m)}`));
      child.off('exit', onExit);
      resolve({
        url: m.url,
        pid: child.pid,
        child,
        request(type) {
          return new Promise((res) => {
            const h = (msg) => {
              if (msg?.type === type) {
                child.off('message', h);
                res(msg);
              }
            };
            child.on('message', h);
            child.send({ type });
          });
        },
        stop() {
          return new Promise((res) => {
            if (child.exitCode !== null) return res();
            child.once('exit', () => res());
            child.kill('SIGTERM');
          });
        },
      });
    });
  });
}

export { call } from '../lib/api.mjs';

/** Signup → operator approve → owner login, through the public API. */
export async function setupTenant(srv, name = 'Bench Co') {
  const { token: operatorToken } = await srv.request('operator');
  return setupTenantVia(srv.url, operatorToken, { name });
}

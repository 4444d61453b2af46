// Shared helpers of the issue-03 sidecar benchmarks (bench/sidecar/*). No dependencies beyond
// what the workspace already has (better-sqlite3, ws, ioredis, autocannon).
import { execFileSync, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const RESULTS_DIR = path.join(REPO, 'bench', 'results');
export const SIDECAR_DIST = path.join(REPO, 'packages', 'sidecar', 'dist', 'index.js');
export const SIDECAR_CLI = path.join(REPO, 'packages', 'sidecar', 'dist', 'cli.js');
export const SERVER_DIST = path.join(REPO, 'packages', 'server', 'dist', 'index.js');
export const PROTOCOL_DIST = path.join(REPO, 'packages', 'protocol', 'dist', 'index.js');

export const importSidecar = () => import(pathToFileURL(SIDECAR_DIST).href);
export const importServer = () => import(pathToFileURL(SERVER_DIST).href);
export const importProtocol = () => import(pathToFileURL(PROTOCOL_DIST).href);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** CLOCK_MONOTONIC in ns as a Number: comparable between processes on this machine. */
export const nowNs = () => Number(process.hrtime.bigint());
export const round = (x, d = 2) =>
  x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d;

export function log(...a) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
}

const run = (cmd, args) => {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
};

/** `uptime` load averages, as text and numbers. */
export function load() {
  return { uptime: run('uptime', []), loadavg: os.loadavg().map((x) => round(x, 2)) };
}

/** Which build of the dists a benchmark ran against (other sessions may rebuild them). */
export function distInfo() {
  const one = (dir) => {
    try {
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.js'));
      const newest = Math.max(...files.map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
      return {
        built_at: new Date(newest).toISOString(),
        chunks: files.filter((f) => f.startsWith('chunk-')),
      };
    } catch {
      return null;
    }
  };
  return {
    sidecar: one(path.dirname(SIDECAR_DIST)),
    server: one(path.dirname(SERVER_DIST)),
    protocol: one(path.dirname(PROTOCOL_DIST)),
  };
}

export function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const dist = (f) => {
    try {
      return fs.statSync(f).mtime.toISOString();
    } catch {
      return null;
    }
  };
  return {
    date_utc: run('date', ['-u']),
    nproc: Number(run('nproc', [])),
    cpu_model: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model,
    ram_gib: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    git_head: run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
    dist_built_at: {
      sidecar: dist(SIDECAR_DIST),
      server: dist(SERVER_DIST),
      protocol: dist(PROTOCOL_DIST),
    },
    load_at_start: load(),
  };
}

/** Sorted-copy quantiles (nearest rank). */
export function summary(values, digits = 3) {
  const v = Float64Array.from(values).sort();
  const n = v.length;
  if (n === 0) return { n: 0 };
  const q = (p) => v[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  let sum = 0;
  for (const x of v) sum += x;
  return {
    n,
    min: round(v[0], digits),
    p50: round(q(0.5), digits),
    p90: round(q(0.9), digits),
    p99: round(q(0.99), digits),
    p999: round(q(0.999), digits),
    max: round(v[n - 1], digits),
    mean: round(sum / n, digits),
  };
}

export const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
};

export function tmpDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `astrdesk-sidecar-bench-${tag}-`));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- CPU accounting (Linux /proc) ---------------------------------------------------------

const CLK_TCK = Number(run('getconf', ['CLK_TCK'])) || 100;
function machineJiffies() {
  const v = fs
    .readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  return { busy: total - idle, total };
}
export function processCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return null;
  }
}
/** Cores used by the given pids, by this process and by everything else during a window. */
export function cpuMeter(pids = {}) {
  const t0 = nowNs();
  const m0 = machineJiffies();
  const p0 = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, processCpuSeconds(pid)]),
  );
  const me0 = process.cpuUsage();
  return () => {
    const wall = (nowNs() - t0) / 1e9;
    const m1 = machineJiffies();
    const out = {};
    let known = 0;
    for (const [k, pid] of Object.entries(pids)) {
      const a = p0[k];
      const b = processCpuSeconds(pid);
      out[`${k}_cores`] = a === null || b === null ? null : round((b - a) / wall);
      known += a === null || b === null ? 0 : (b - a) / wall;
    }
    const me = process.cpuUsage(me0);
    const meCores = (me.user + me.system) / 1e6 / wall;
    const busy = (m1.busy - m0.busy) / CLK_TCK / wall;
    out.bench_process_cores = round(meCores);
    out.machine_busy_cores = round(busy);
    out.other_processes_cores = round(Math.max(0, busy - known - meCores));
    return out;
  };
}

// ---- child processes ----------------------------------------------------------------------

/**
 * Forks a child module with IPC. Resolves with { child, msg } on the first message of type
 * `ready`; rejects if it exits first or after `timeoutMs`.
 */
export function forkChild(
  file,
  { args = [], env = {}, execArgv = [], timeoutMs = 600_000, stdio } = {},
) {
  const child = fork(file, args, {
    env: { ...process.env, ...env },
    execArgv,
    stdio: stdio ?? ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(file)}: not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onMsg = (m) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        child.off('message', onMsg);
        resolve({ child, msg: m });
      } else if (m?.type === 'fatal') {
        clearTimeout(timer);
        reject(new Error(`${path.basename(file)}: ${m.message}`));
      }
    };
    child.on('message', onMsg);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(file)} exited (${code ?? sig}) before ready`));
    });
  });
  return ready;
}

/** Waits for one IPC message matching `pred` (bounded). */
export function nextMessage(child, pred, timeoutMs, what = 'message') {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const on = (m) => {
      if (pred(m)) {
        clearTimeout(timer);
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
  });
}

/** Asks a forked child to shut down ({type:'shutdown'}), SIGKILL after `graceMs`. */
export async function stopChild(child, graceMs = 15_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    child.send({ type: 'shutdown' });
  } catch {
    child.kill('SIGTERM');
  }
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

/** In a child: runs `fn` on {type:'shutdown'} (or SIGTERM), then exits. */
export function onShutdown(fn) {
  let done = false;
  const go = async () => {
    if (done) return;
    done = true;
    try {
      await fn();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (m) => {
    if (m?.type === 'shutdown') void go();
  });
  process.on('SIGTERM', () => void go());
  process.on('disconnect', () => void go());
}

export function spawnNode(args, { env = {}, stdio = ['ignore', 'ignore', 'pipe'] } = {}) {
  return spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio });
}

// ---- test data -----------------------------------------------------------------------------

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A fixed, sortable, unique `bl_` + 26-char id per index (ULID layout, constant time part). */
export function entryId(i) {
  let s = '';
  let x = i;
  for (let k = 0; k < 16; k++) {
    s = CROCKFORD[x % 32] + s;
    x = Math.floor(x / 32);
  }
  return `bl_01JD3Y0M5Q${s}`;
}
export const DAY = 86_400_000;
/** A WeChat-openid-shaped id (28 characters, letters and digits), ascending in `i`. */
export function wechatOpenId(i) {
  return `o${i.toString(36).padStart(9, '0')}Kq7dLpZ2mN4vB9xC1wE`;
}
/**
 * The i-th of n synthetic entries: 70 % qq, 20 % wechat, 10 % telegram (in blocks, so
 * (platform, user) is ascending in i); 10-digit user ids on qq and telegram, 28-character
 * openid-like ids on wechat ({@link wechatOpenId}); a third with a reason; a fifth expiring in
 * 30 days (still active).
 */
export function entryAt(i, n, now) {
  const platform = i < n * 0.7 ? 'qq' : i < n * 0.9 ? 'wechat' : 'telegram';
  return {
    id: entryId(i),
    platform,
    platform_user_id: platform === 'wechat' ? wechatOpenId(i) : String(1_000_000_000 + i),
    reason: i % 3 === 0 ? 'spam' : null,
    expires_at: i % 5 === 0 ? now + 30 * DAY : null,
  };
}

/**
 * A sidecar data directory whose blacklist.db holds `n` entries, built the way the sidecar
 * would find it after a sync: the schema is created by the sidecar itself (`Blacklist.open`
 * from dist), then rows are bulk-inserted directly in one transaction and `meta` gets
 * revision / synced_at.
 */
export async function buildSidecarDataDir(dir, n, { now = Date.now(), revision = n } = {}) {
  const { Blacklist } = await importSidecar();
  const { default: Database } = await import('better-sqlite3');
  const file = path.join(dir, 'blacklist.db');
  Blacklist.open(file).close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const ins = db.prepare(
    'INSERT INTO blacklist (platform, platform_user_id, id, reason, expires_at) VALUES (?, ?, ?, ?, ?)',
  );
  const setMeta = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
  const t0 = nowNs();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const e = entryAt(i, n, now);
      ins.run(e.platform, e.platform_user_id, e.id, e.reason, e.expires_at);
    }
    setMeta.run('revision', String(revision));
    setMeta.run('synced_at', String(now));
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { file, bytes: fs.statSync(file).size, build_s: round((nowNs() - t0) / 1e9, 2) };
}

export function writeJson(name, data) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(
    RESULTS_DIR,
    `sidecar-${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

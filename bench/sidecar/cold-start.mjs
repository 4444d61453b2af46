// (d) Cold start: a sidecar data dir whose blacklist.db holds 1M entries (bulk-inserted into
// the sidecar's own schema), then `node packages/sidecar/dist/cli.js` start → first
// GET /readyz 200, ASTRDESK_SERVER_URL pointing to a closed port (it must serve from cache).
// One priming run (creates outbox.db, warms the page cache), then `runs` timed runs. Also the
// same with an empty cache and a bare `node -e 0`, a breakdown in a fresh process
// (children/load-breakdown.mjs) and, optionally, a CPU profile of one start.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  buildSidecarDataDir,
  distInfo,
  freePort,
  HERE,
  load,
  log,
  median,
  nowNs,
  round,
  SIDECAR_CLI,
  sleep,
  spawnNode,
  tmpDir,
} from './lib.mjs';

function readyzOnce(port) {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/readyz', agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
  });
}

/** Spawns the CLI and polls /readyz every 2 ms; returns timings (ms) and stops the process. */
async function startOnce(dataDir, { closedPort, profileDir, nodeFlags = [] } = {}) {
  const port = await freePort();
  const args = [
    ...nodeFlags,
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    SIDECAR_CLI,
  ];
  const wall0 = Date.now();
  const t0 = nowNs();
  const child = spawnNode(args, {
    env: {
      ASTRDESK_SERVER_URL: `http://127.0.0.1:${closedPort}`,
      ASTRDESK_INSTANCE_TOKEN: 'adi_bench_0000000000000000000000',
      SIDECAR_API_TOKEN: 'bench-api-token-0123456789',
      SIDECAR_PORT: String(port),
      SIDECAR_DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    if (stdout.length < 100_000) stdout += d;
  });
  child.stderr.on('data', (d) => {
    if (stderr.length < 100_000) stderr += d;
  });
  const exited = new Promise((r) => child.once('exit', (code, sig) => r(code ?? sig)));
  let exitedEarly = null;
  void exited.then((c) => {
    exitedEarly = c;
  });
  let readyMs = null;
  for (let i = 0; i < 30_000 && exitedEarly === null; i++) {
    if ((await readyzOnce(port)) === 200) {
      readyMs = (nowNs() - t0) / 1e6;
      break;
    }
    await sleep(2);
  }
  // Ready means lookups are answered (from SQLite while the in-memory index fills in the
  // background). Wait for the "index loaded" line too, to report when the fill finished.
  for (let i = 0; i < 3000 && exitedEarly === null && readyMs !== null; i++) {
    if (stdout.includes('blacklist index loaded')) break;
    await sleep(5);
  }
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(kill);
  if (readyMs === null)
    throw new Error(`sidecar never ready (exit ${exitedEarly}): ${stderr.slice(0, 2000)}`);
  // pino's `time` of the "listening" line: when the port opened, after the cache loaded.
  let listeningMs = null;
  let indexedMs = null;
  let entries = null;
  for (const line of stdout.split('\n')) {
    try {
      if (line.includes('listening')) {
        const j = JSON.parse(line);
        listeningMs = j.time - wall0;
        entries = j.entries;
      } else if (line.includes('blacklist index loaded')) {
        indexedMs = JSON.parse(line).time - wall0;
      }
    } catch {}
  }
  return {
    ready_ms: round(readyMs, 1),
    listening_log_ms: listeningMs,
    index_loaded_log_ms: indexedMs,
    entries,
  };
}

export async function runColdStart({
  quick = false,
  entries = quick ? 100_000 : 1_000_000,
  runs = 5,
  profile = !quick,
} = {}) {
  const out = {
    started: load(),
    dist: distInfo(),
    config: { entries, runs, readyz_poll_ms: 2 },
    runs: [],
  };
  const dir = tmpDir('cold');
  const empty = tmpDir('cold-empty');
  const closedPort = await freePort(); // nothing listens there
  try {
    log(`(d) cold start: building a data dir with ${entries} entries`);
    const built = await buildSidecarDataDir(dir, entries);
    out.blacklist_db_bytes = built.bytes;
    out.bulk_insert_s = built.build_s;
    out.closed_server_port = closedPort;

    // node itself
    const nodeRuns = [];
    for (let i = 0; i < 5; i++) {
      const t0 = nowNs();
      execFileSync(process.execPath, ['-e', '0']);
      nodeRuns.push(round((nowNs() - t0) / 1e6, 1));
    }
    out.node_e_0_ms = { runs: nodeRuns, median: median(nodeRuns) };

    // an empty cache (same start path, nothing to load)
    await startOnce(empty, { closedPort });
    const emptyRuns = [];
    for (let i = 0; i < runs; i++)
      emptyRuns.push((await startOnce(empty, { closedPort })).ready_ms);
    out.empty_cache_ready_ms = { runs: emptyRuns, median: median(emptyRuns) };

    // the measured case
    const prime = await startOnce(dir, { closedPort });
    out.priming_run = prime;
    if (prime.entries !== entries)
      throw new Error(`sidecar loaded ${prime.entries} entries, expected ${entries}`);
    for (let i = 0; i < runs; i++) {
      const r = await startOnce(dir, { closedPort });
      r.load = load().loadavg;
      out.runs.push(r);
      log(
        `(d) run ${i + 1}: ready in ${r.ready_ms} ms (port open at ${r.listening_log_ms} ms, in-memory index complete at ${r.index_loaded_log_ms} ms)`,
      );
    }
    const readies = out.runs.map((r) => r.ready_ms);
    out.ready_ms = {
      median: median(readies),
      min: Math.min(...readies),
      max: Math.max(...readies),
    };
    const indexed = out.runs.map((r) => r.index_loaded_log_ms).filter((x) => x !== null);
    if (indexed.length) out.index_loaded_ms = { median: median(indexed) };
    out.target_ms = 1000;
    out.meets_target = out.ready_ms.median < 1000;

    // What-if without touching the sidecar: a larger young generation, so the bulk load's
    // short-lived objects (row arrays, key cons-strings) do not promote through many scavenges.
    const semi = [];
    for (let i = 0; i < Math.min(runs, 3); i++)
      semi.push(
        (await startOnce(dir, { closedPort, nodeFlags: ['--max-semi-space-size=64'] })).ready_ms,
      );
    out.what_if_max_semi_space_64_ready_ms = { runs: semi, median: median(semi) };

    log('(d) breakdown in a fresh process');
    const bd = execFileSync(
      process.execPath,
      [path.join(HERE, 'children', 'load-breakdown.mjs'), built.file],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      },
    );
    out.breakdown = JSON.parse(bd.trim().split('\n').at(-1));

    if (profile) {
      const profDir = tmpDir('cold-prof');
      try {
        const r = await startOnce(dir, { closedPort, profileDir: profDir });
        const f = fs.readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
        const { summarize } = await import('../lib/cpuprofile-summary.mjs');
        const s = summarize(JSON.parse(fs.readFileSync(path.join(profDir, f), 'utf8')), {
          top: 20,
          pkg: '@astrdesk/sidecar',
        });
        out.profile = {
          ready_ms_under_profiler: r.ready_ms,
          note: 'whole process life (start → readyz → SIGTERM), so it includes the shutdown',
          busy_ms: s.busy_ms,
          self_by_package: s.self_by_package.slice(0, 10),
          self_by_function: s.self_by_function.slice(0, 15),
          self_by_line: s.self_by_line.slice(0, 15),
          inclusive_sidecar_functions: s.inclusive_server_functions.slice(0, 15),
        };
      } finally {
        fs.rmSync(profDir, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(empty, { recursive: true, force: true });
  }
  out.finished = load();
  return out;
}

#!/usr/bin/env node
// Realtime fan-out benchmark: an event written to a tenant's log → pushed to 1,000 sockets.
//
// The server runs in this process (the built `@astrdesk/server`: startServer, loadConfig,
// createOperator), so an event can be written exactly the way every write does
// (`services.events.transact(... emit ...)`). The 1,000 `ws` clients run in a child process
// (bench/realtime/clients.mjs) so client-side parsing does not share the server's event loop;
// they timestamp arrivals with process.hrtime.bigint() (CLOCK_MONOTONIC, common to all
// processes), the same clock the write is timed with here.
//
// For each of BENCH_EVENTS events (one at a time): t0 → transact+commit → publish → every
// socket received it. Reported: per-socket delivery latency (all sockets × all events), the
// "last socket" latency per event (when ALL sockets have it), when the server had handed the
// event to every socket, and when transact() returned (commit + publish).
//
// Run (from the repo root, after `npx turbo run build --filter=@astrdesk/server` or
// `cd packages/server && npx tsup`):
//     node bench/realtime/fanout.mjs
// Flags:  --quick           200 sockets, 50 events (checks the bench works)
//         --clients-inproc  run the clients in this process too (one event loop for all)
// Env:    BENCH_SOCKETS (1000), BENCH_EVENTS (200), BENCH_WARMUP_EVENTS (20),
//         BENCH_PAUSE_MS (pause between events, default 5), BENCH_DATABASE_URL (postgres://…;
//         default SQLite in a temp dir), BENCH_REDIS_URL (redis://…; default in-process bus),
//         BENCH_RESULTS_DIR (default bench/results), BENCH_TARGET_P99_MS (50).
import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createOperator, loadConfig, openDatabase, startServer } from '@astrdesk/server';
import { createApiKey, setupTenant } from '../lib/api.mjs';
import { machineInfo } from '../lib/sysinfo.mjs';
import { runClients } from './clients.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..', '..');
const machine = machineInfo(REPO_ROOT);

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  const header = fs
    .readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n')
    .slice(1, 24);
  console.log(header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const quick = argv.includes('--quick');
const envNum = (name, dflt) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
  return n;
};
const opts = {
  sockets: envNum('BENCH_SOCKETS', quick ? 200 : 1000),
  events: envNum('BENCH_EVENTS', quick ? 50 : 200),
  warmup: envNum('BENCH_WARMUP_EVENTS', quick ? 5 : 20),
  pauseMs: envNum('BENCH_PAUSE_MS', 5),
  targetP99: envNum('BENCH_TARGET_P99_MS', 50),
  clientsInproc: argv.includes('--clients-inproc'),
  databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
  redisUrl: process.env.BENCH_REDIS_URL || undefined,
  resultsDir: process.env.BENCH_RESULTS_DIR
    ? path.resolve(process.env.BENCH_RESULTS_DIR)
    : path.join(REPO_ROOT, 'bench', 'results'),
};

const log = (...a) => console.error('[fanout]', ...a);
const now = () => Number(process.hrtime.bigint());
const ms = (ns) => ns / 1e6;
const r2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
function dist(values) {
  const s = Float64Array.from(values).sort();
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    p50: r2(pct(s, 50)),
    p90: r2(pct(s, 90)),
    p99: r2(pct(s, 99)),
    p999: r2(pct(s, 99.9)),
    max: r2(s[s.length - 1] ?? null),
    mean: r2(mean),
  };
}

// ---- server -------------------------------------------------------------------------------

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-fanout-'));
const schema = `bench_${crypto.randomBytes(5).toString('hex')}`;
const database = opts.databaseUrl
  ? openDatabase({ kind: 'postgres', url: opts.databaseUrl, schema, poolSize: 10 })
  : undefined;
const srv = await startServer({
  config: loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ASTRDESK_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
    // 1,000 upgrades with one API key: lift the per-key limit (each upgrade takes a token).
    API_KEY_RATE_LIMIT_PER_MINUTE: '10000000',
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
    ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : {}),
  }),
  ...(database ? { database } : {}),
});
const wsUrl = srv.url.replace(/^http/, 'ws');
// Subscribed after the realtime hub, so this runs once the hub has handed the event to every
// socket (ws.send → kernel): the server-side cost of one fan-out.
const dispatched = new Map();
srv.services.events.bus.subscribe((e) => dispatched.set(e.seq, now()));

let child;
let inproc;
async function cleanup() {
  child?.connected && child.send({ type: 'stop' });
  inproc?.close();
  await srv.close().catch(() => {});
  if (database) {
    const admin = openDatabase({ kind: 'postgres', url: opts.databaseUrl, poolSize: 1 });
    const { sql } = await import('kysely');
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db).catch(() => {});
    await admin.close();
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}

try {
  // ---- a tenant and a key, over HTTP ------------------------------------------------------
  const operator = await createOperator(srv.services.db, 'bench');
  const { tenantId, sessionToken } = await setupTenant(srv.url, operator.token, {
    name: 'Fanout Co',
    email: 'owner@fanout.example',
  });
  const apiKey = await createApiKey(srv.url, sessionToken, 'fanout', ['conversations:read']);

  // ---- clients ----------------------------------------------------------------------------
  const waiting = new Map(); // seq → resolve(times)
  const arrivedEarly = new Map(); // seq → times, when they beat the waiter
  let connectedResolve;
  const connected = new Promise((r) => {
    connectedResolve = r;
  });
  const onMsg = (m) => {
    if (m.type === 'connected') connectedResolve(m);
    else if (m.type === 'arrived') {
      const w = waiting.get(m.seq);
      if (w) {
        waiting.delete(m.seq);
        w(m.times);
      } else {
        // With Redis, transact() returns only after the Redis publish, by which time the
        // sockets (served from the local bus at once) may all have reported already.
        arrivedEarly.set(m.seq, m.times);
      }
    } else if (m.type === 'closed' || m.type === 'error') log('client:', JSON.stringify(m));
  };
  const start = { type: 'start', url: wsUrl, token: apiKey, count: opts.sockets };
  const t0c = Date.now();
  if (opts.clientsInproc) {
    inproc = runClients(start, onMsg);
    void inproc.connect();
  } else {
    child = fork(path.join(HERE, 'clients.mjs'), ['--child'], { stdio: 'inherit' });
    child.on('message', onMsg);
    child.send(start);
  }
  const c = await connected;
  log(`${c.ready}/${opts.sockets} sockets ready in ${Date.now() - t0c} ms (${c.failed} failed)`);
  if (c.ready !== opts.sockets) throw new Error('not every socket connected');

  // ---- measure ----------------------------------------------------------------------------
  const text = 'Hello, I would like to ask about my order #12345 — it has not arrived yet.';
  const emitOne = async (i) => {
    const cpu0 = process.cpuUsage();
    const t0 = now();
    const e = await srv.services.events.transact(tenantId, (_tx, emit) =>
      emit('message.created', {
        conversation_id: 'conv_01JD3Y0M5Q8W2K7T4F9XG1B6CE',
        message: {
          id: `msg_bench${String(i).padStart(8, '0')}`,
          kind: 'text',
          sender: 'user',
          status: 'delivered',
          text,
          platform: 'wechat',
          platform_user_id: 'wx_user_0001',
          created_at: new Date().toISOString(),
        },
      }),
    );
    const tCommit = now();
    const times = await Promise.race([
      new Promise((resolve) => {
        const early = arrivedEarly.get(e.seq);
        if (early) {
          arrivedEarly.delete(e.seq);
          resolve(early);
        } else waiting.set(e.seq, resolve);
      }),
      sleep(15_000).then(() => {
        throw new Error(`event ${e.seq} did not reach every socket within 15 s`);
      }),
    ]);
    const cpu = process.cpuUsage(cpu0);
    const tDispatched = dispatched.get(e.seq);
    dispatched.delete(e.seq);
    return { seq: e.seq, t0, tCommit, tDispatched, times, cpuMs: (cpu.user + cpu.system) / 1000 };
  };

  for (let i = 0; i < opts.warmup; i++) {
    await emitOne(-1 - i);
    await sleep(opts.pauseMs);
  }
  log(`warmed up with ${opts.warmup} events; measuring ${opts.events}`);

  const perSocket = [];
  const last = [];
  const first = [];
  const median = [];
  const commit = [];
  const serverDone = [];
  const cpuPerEvent = [];
  const cpu0 = process.cpuUsage();
  const wall0 = now();
  for (let i = 0; i < opts.events; i++) {
    const r = await emitOne(i);
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    const lat = new Float64Array(r.times.length);
    for (let j = 0; j < r.times.length; j++) {
      const l = ms(r.times[j] - r.t0);
      lat[j] = l;
      perSocket.push(l);
      if (l < lo) lo = l;
      if (l > hi) hi = l;
    }
    lat.sort();
    first.push(lo);
    last.push(hi);
    median.push(pct(lat, 50));
    commit.push(ms(r.tCommit - r.t0));
    if (r.tDispatched !== undefined) serverDone.push(ms(r.tDispatched - r.t0));
    cpuPerEvent.push(r.cpuMs);
    await sleep(opts.pauseMs);
  }
  const wall = ms(now() - wall0) / 1000;
  const cpu = process.cpuUsage(cpu0);

  const results = {
    bench: 'realtime-fanout',
    machine,
    options: { ...opts, databaseUrl: opts.databaseUrl ? '(set)' : null },
    setup: {
      database: opts.databaseUrl ? 'postgres' : 'sqlite',
      bus: opts.redisUrl ? 'redis' : 'memory',
      clients: opts.clientsInproc ? 'same process as the server' : 'one child process',
    },
    latency_ms: {
      per_socket: dist(perSocket),
      last_socket: dist(last),
      first_socket: dist(first),
      median_socket_per_event: dist(median),
      transact_returned: dist(commit),
      server_fanout_done: dist(serverDone),
    },
    server_process_cores: r2((cpu.user + cpu.system) / 1e6 / wall),
    // CPU the server process spent per event (commit + fan-out + reading the child's report):
    // what the latency would approach on an otherwise idle core.
    server_cpu_ms_per_event: dist(cpuPerEvent),
    loadavg_after: os.loadavg().map((x) => r2(x)),
    target: { last_socket_p99_ms: opts.targetP99 },
  };
  results.pass = {
    per_socket_p99: results.latency_ms.per_socket.p99 < opts.targetP99,
    last_socket_p99: results.latency_ms.last_socket.p99 < opts.targetP99,
  };

  fs.mkdirSync(opts.resultsDir, { recursive: true });
  const file = path.join(
    opts.resultsDir,
    `realtime-fanout-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);

  const L = results.latency_ms;
  const row = (name, d) =>
    `| ${name} | ${d.n} | ${d.p50} | ${d.p90} | ${d.p99} | ${d.p999} | ${d.max} |`;
  console.log(
    [
      `### Realtime fan-out: 1 event → ${opts.sockets} sockets (${results.setup.database}, ${results.setup.bus} bus, clients in ${results.setup.clients})`,
      '',
      `${results.machine.nproc} × ${results.machine.cpu_model}, node ${results.machine.node}; ${opts.events} events after ${opts.warmup} warm-up, ${opts.pauseMs} ms apart`,
      '',
      '| latency from write start (ms) | samples | p50 | p90 | p99 | p99.9 | max |',
      '|---|---:|---:|---:|---:|---:|---:|',
      row('per socket (every socket × every event)', L.per_socket),
      row('last socket (all sockets have it)', L.last_socket),
      row('first socket', L.first_socket),
      row('server handed it to every socket', L.server_fanout_done),
      row('transact() returned (commit + publish)', L.transact_returned),
      '',
      `Server CPU per event (commit + fan-out): p50 ${results.server_cpu_ms_per_event.p50} ms, p99 ${results.server_cpu_ms_per_event.p99} ms. Load average at start ${results.machine.loadavg_at_start.join(' ')}, after ${results.loadavg_after.join(' ')}.`,
      '',
      `Target p99 < ${opts.targetP99} ms: per socket ${results.pass.per_socket_p99 ? 'PASS' : 'FAIL'}, last socket ${results.pass.last_socket_p99 ? 'PASS' : 'FAIL'}. Server process CPU: ${results.server_process_cores} cores${opts.clientsInproc ? ' (includes the clients)' : ''}.`,
      '',
      `Results: ${path.relative(REPO_ROOT, file)}`,
    ].join('\n'),
  );
} catch (err) {
  console.error('[fanout] failed:', err);
  process.exitCode = 1;
} finally {
  await cleanup();
}

#!/usr/bin/env node
// HTTP benchmark: authenticated `GET /v1/me` on the AstrDesk server vs a bare node:http server
// answering the same bytes. Run from the repo root with `npm run bench:http`.
//
// Each server runs in its own child process (one at a time), so the load generator
// (autocannon, in this process) and the server do not share an event loop.
//
// Flags:   --quick    short run (warmup 1 s, duration 3 s) to check the bench works
//          --profile  also run the AstrDesk server under `node --cpu-prof` and summarise hot spots
//                     (done anyway when the ratio misses the target, unless BENCH_PROFILE=0)
//          --fresh-build  measure the current packages/server sources, built into
//                     bench/.server-build/dist (default: the workspace's packages/server/dist)
//          --help     (from the root: `npm run bench:http -- -- --quick`, or `npm run bench:http --quick`)
// Env:     BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_CONNECTIONS (50),
//          BENCH_PIPELINING (1), BENCH_ROUNDS (1; >1 reports the median of the rounds),
//          BENCH_LOG_VARIANT (1; 0 skips the LOG_LEVEL=info runs), BENCH_TARGET_RATIO (0.5),
//          BENCH_REFERENCES (1; 0 skips the minimal-Hono reference rows), BENCH_PROFILE (1 = --profile),
//          BENCH_ASTRDESK_NODE_ARGS (extra node flags for the AstrDesk child, e.g. an experiment's
//          --require), BENCH_RESULTS_DIR (default bench/results).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { formatSummary, summarize } from './lib/cpuprofile-summary.mjs';
import { cpuMeter, machineInfo } from './lib/sysinfo.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '..');
const SERVER_PKG = path.join(REPO_ROOT, 'packages', 'server');

// ---- options ------------------------------------------------------------------------------

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  const header = fs
    .readFileSync(fileURLToPath(import.meta.url), 'utf8')
    .split('\n')
    .slice(1);
  const end = header.findIndex((l) => !l.startsWith('//'));
  console.log(
    header
      .slice(0, end)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n'),
  );
  process.exit(0);
}
// `npm run bench:http --quick` (without `--`) reaches us as npm_config_quick=true; accept both.
const flag = (name) =>
  argv.includes(`--${name}`) || process.env[`npm_config_${name.replaceAll('-', '_')}`] === 'true';
const quick = flag('quick');
const envNum = (name, dflt) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`${name} must be a non-negative number (got ${JSON.stringify(raw)})`);
  return n;
};
const opts = {
  warmup: envNum('BENCH_WARMUP', quick ? 1 : 3),
  duration: envNum('BENCH_DURATION', quick ? 3 : 10),
  connections: envNum('BENCH_CONNECTIONS', 50),
  pipelining: envNum('BENCH_PIPELINING', 1),
  rounds: Math.max(1, envNum('BENCH_ROUNDS', 1)),
  logVariant: envNum('BENCH_LOG_VARIANT', 1) !== 0,
  references: envNum('BENCH_REFERENCES', 1) !== 0,
  astrdeskNodeArgs: (process.env.BENCH_ASTRDESK_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  targetRatio: envNum('BENCH_TARGET_RATIO', 0.5),
  profile: flag('profile') || process.env.BENCH_PROFILE === '1',
  freshBuild: flag('fresh-build') || process.env.BENCH_FRESH_BUILD === '1',
  resultsDir: process.env.BENCH_RESULTS_DIR
    ? path.resolve(process.env.BENCH_RESULTS_DIR)
    : path.join(HERE, 'results'),
  quick,
};

// ---- helpers ------------------------------------------------------------------------------

const log = (...a) => console.error('[bench]', ...a);
const round = (x, d = 0) =>
  x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** d) / 10 ** d;

/** Newest modification time of the server's non-test sources. */
function newestServerSource(dir = path.join(SERVER_PKG, 'src')) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestServerSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
      newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Runs a build command, retrying: someone may be mid-edit. */
async function buildWithRetries(what, args, entry) {
  for (let attempt = 1; attempt <= 3; attempt++) {
    log(`building ${what} with tsup (attempt ${attempt})`);
    try {
      execFileSync('npx', args, { cwd: SERVER_PKG, stdio: ['ignore', 'ignore', 'inherit'] });
      if (fs.existsSync(entry)) return;
    } catch (err) {
      log(`build failed: ${err.message.split('\n')[0]}`);
    }
    if (attempt < 3) await sleep(60_000);
  }
  throw new Error(`could not build ${what} (npx ${args.join(' ')} in packages/server)`);
}

/**
 * Decides which server build the AstrDesk child loads. Default: the workspace package
 * (packages/server/dist, built once if missing). With --fresh-build: the current sources,
 * built into bench/.server-build/dist, so the numbers match the tree and no one else's rebuild
 * of packages/server/dist can change the code under test mid-run.
 */
async function prepareServer() {
  if (opts.freshBuild) {
    const entry = path.join(HERE, '.server-build', 'dist', 'index.js');
    await buildWithRetries(
      'a private copy of packages/server',
      ['tsup', '--config', path.join(HERE, 'lib', 'tsup-server.config.mjs')],
      entry,
    );
    const built = fs.statSync(entry).mtime;
    return {
      kind: 'fresh build of the working tree (bench/.server-build)',
      entry,
      built_at: built.toISOString(),
      stale: false,
    };
  }
  const entry = path.join(SERVER_PKG, 'dist', 'index.js');
  if (!fs.existsSync(entry)) await buildWithRetries('packages/server', ['tsup'], entry);
  const built = fs.statSync(entry).mtimeMs;
  const stale = newestServerSource() > built;
  if (stale)
    log(
      'warning: packages/server/src has changed since packages/server/dist was built; use --fresh-build to measure the current sources',
    );
  return {
    kind: 'packages/server/dist',
    entry: null,
    built_at: new Date(built).toISOString(),
    stale,
  };
}

/**
 * Spawns a server script as a child process and waits for its handshake over IPC.
 * stdout is 'ignore' — Node attaches /dev/null — so the server's access logs (pino → stdout)
 * cost the server the JSON serialisation and the write(2), but nothing in this process.
 */
function spawnServer(script, { env = {}, nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, path.join(HERE, 'lib', script)], {
    cwd: HERE,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not become ready within 60 s`)),
      60_000,
    );
    child.on('message', (m) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        resolve(m);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited before it was ready (code ${code}, signal ${signal})`));
    });
  });
  return {
    child,
    ready,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

const children = new Set();
async function withServer(script, spawnOpts, fn) {
  const s = spawnServer(script, spawnOpts);
  children.add(s);
  try {
    const info = await s.ready;
    return await fn(info, s.child.pid);
  } finally {
    await s.stop();
    children.delete(s);
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await Promise.allSettled([...children].map((c) => c.stop()));
    process.exit(130);
  });
}

/** One request with curl-like strictness: must be 200. Returns status, content-type and body. */
async function verify200(url, headers, what) {
  const res = await fetch(url, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) {
    throw new Error(
      `${what}: expected 200 from GET ${url}, got ${res.status}: ${body.toString().slice(0, 300)}`,
    );
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body };
}

function cannon(url, headers, duration) {
  return autocannon({
    url,
    headers,
    connections: opts.connections,
    pipelining: opts.pipelining,
    duration,
  });
}

const failures = [];
function checkClean(label, phase, r) {
  const bad = { non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts };
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) {
    const msg = `${label} (${phase}): ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts — status codes ${JSON.stringify(r.statusCodeStats)}`;
    failures.push(msg);
    log(`FAIL ${msg}`);
  }
  return bad;
}

/** Warm up, then measure one scenario. */
async function measure(label, url, headers, serverPid) {
  if (opts.warmup > 0) {
    log(`${label}: warmup ${opts.warmup} s`);
    const w = await cannon(url, headers, opts.warmup);
    checkClean(label, 'warmup', w);
  }
  log(
    `${label}: measuring ${opts.duration} s (${opts.connections} connections, pipelining ${opts.pipelining})`,
  );
  const meter = cpuMeter(serverPid);
  const r = await cannon(url, headers, opts.duration);
  const cpu = meter.stop();
  const clean = checkClean(label, 'measure', r);
  const out = {
    label,
    req_per_sec_mean: round(r.requests.mean),
    req_per_sec_stddev: round(r.requests.stddev),
    requests_total: r.requests.total,
    latency_ms: {
      mean: round(r.latency.mean, 2),
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
    },
    throughput_bytes_per_sec_mean: round(r.throughput.mean),
    status_codes: r.statusCodeStats,
    ...clean,
    cpu,
    server_cpu_us_per_req:
      cpu.server_cores === null ? null : round((cpu.server_cores * 1e6) / r.requests.mean, 1),
  };
  log(
    `${label}: ${out.req_per_sec_mean} req/s, p50 ${out.latency_ms.p50} ms, p99 ${out.latency_ms.p99} ms; ` +
      `cores: server ${cpu.server_cores}, loadgen ${cpu.loadgen_cores}, other ${cpu.other_cores}`,
  );
  return out;
}

// ---- scenarios ----------------------------------------------------------------------------

const SCENARIOS = [
  { id: 'bare', label: 'bare node:http (same body)', logs: '—' },
  { id: 'hono', label: 'reference: minimal Hono app, c.json(same body)', logs: '—' },
  { id: 'hono_body_limit', label: 'reference: minimal Hono + bodyLimit on *', logs: '—' },
  { id: 'hono_cors', label: 'reference: minimal Hono + cors on *', logs: '—' },
  { id: 'astrdesk_api_key', label: 'AstrDesk GET /v1/me, API key', logs: 'silent' },
  { id: 'astrdesk_session', label: 'AstrDesk GET /v1/me, member session', logs: 'silent' },
  { id: 'astrdesk_api_key_info', label: 'AstrDesk GET /v1/me, API key', logs: 'info → /dev/null' },
  {
    id: 'astrdesk_session_info',
    label: 'AstrDesk GET /v1/me, member session',
    logs: 'info → /dev/null',
  },
];

/** Extra env for the AstrDesk child (which server build to load); set in main(). */
let astrdeskEnv = {};

/** AstrDesk under one LOG_LEVEL: verify both credentials, then measure both. */
async function runAstrdesk(logLevel, suffix, results, capture) {
  await withServer(
    'serve-astrdesk.mjs',
    { env: { ...astrdeskEnv, LOG_LEVEL: logLevel }, nodeArgs: opts.astrdeskNodeArgs },
    async (info, pid) => {
      const me = `${info.url}/v1/me`;
      const keyH = { authorization: `Bearer ${info.apiKey}` };
      const sesH = { authorization: `Bearer ${info.sessionToken}` };
      const a = await verify200(me, keyH, 'API key');
      const b = await verify200(me, sesH, 'session');
      if (capture) {
        capture.body = a.body;
        capture.contentType = a.contentType;
        capture.sessionBytes = b.body.length;
      }
      results[`astrdesk_api_key${suffix}`].push(
        await measure(`astrdesk api-key (LOG_LEVEL=${logLevel})`, me, keyH, pid),
      );
      results[`astrdesk_session${suffix}`].push(
        await measure(`astrdesk session (LOG_LEVEL=${logLevel})`, me, sesH, pid),
      );
    },
  );
}

async function runBare(capture, results) {
  const bodyFile = path.join(os.tmpdir(), `astrdesk-bench-body-${process.pid}.json`);
  fs.writeFileSync(bodyFile, capture.body);
  try {
    await withServer(
      'serve-bare.mjs',
      {
        env: {
          BARE_BODY_FILE: bodyFile,
          BARE_CONTENT_TYPE: capture.contentType ?? 'application/json',
        },
      },
      async (info, pid) => {
        const url = `${info.url}/v1/me`;
        const v = await verify200(url, {}, 'bare');
        if (!v.body.equals(capture.body))
          throw new Error('bare server body differs from the captured /v1/me body');
        results.bare.push(await measure('bare node:http', url, {}, pid));
      },
    );
  } finally {
    fs.rmSync(bodyFile, { force: true });
  }
}

/** Minimal Hono on @hono/node-server answering the same JSON: the framework's own ceiling. */
async function runHono(capture, results) {
  for (const [id, middleware] of [
    ['hono', ''],
    ['hono_body_limit', 'body-limit'],
    ['hono_cors', 'cors'],
  ]) {
    await withServer(
      'serve-hono.mjs',
      { env: { HONO_BODY: capture.body.toString('utf8'), HONO_MIDDLEWARE: middleware } },
      async (info, pid) => {
        const url = `${info.url}/v1/me`;
        const v = await verify200(url, {}, id);
        if (!v.body.equals(capture.body))
          throw new Error(`${id}: body differs from the captured /v1/me body`);
        results[id].push(await measure(`hono ${middleware || 'minimal'}`, url, {}, pid));
      },
    );
  }
}

/** Runs the AstrDesk server under --cpu-prof for each credential and summarises the profiles. */
async function profileAstrdesk(stamp) {
  const dir = path.join(opts.resultsDir, 'profiles', stamp);
  fs.mkdirSync(dir, { recursive: true });
  const summaries = {};
  for (const cred of ['api_key', 'session']) {
    const sub = path.join(dir, cred);
    fs.mkdirSync(sub, { recursive: true });
    await withServer(
      'serve-astrdesk.mjs',
      {
        env: { ...astrdeskEnv, LOG_LEVEL: 'silent' },
        nodeArgs: [...opts.astrdeskNodeArgs, '--cpu-prof', `--cpu-prof-dir=${sub}`],
      },
      async (info, pid) => {
        const me = `${info.url}/v1/me`;
        const h = {
          authorization: `Bearer ${cred === 'api_key' ? info.apiKey : info.sessionToken}`,
        };
        await verify200(me, h, cred);
        await measure(`profile astrdesk ${cred}`, me, h, pid);
      },
    );
    const file = fs.readdirSync(sub).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      log(`no .cpuprofile written in ${sub}`);
      continue;
    }
    const s = summarize(JSON.parse(fs.readFileSync(path.join(sub, file), 'utf8')), { top: 25 });
    summaries[cred] = { file: path.relative(REPO_ROOT, path.join(sub, file)), ...s };
    console.log(
      `\n${formatSummary(s, `CPU profile of the AstrDesk server, GET /v1/me with ${cred} (${summaries[cred].file})`)}`,
    );
  }
  return summaries;
}

// ---- report -------------------------------------------------------------------------------

/**
 * Several rounds: report the round with the median req/s as a whole (so a row's latency and CPU
 * figures come from the same run), and keep every round.
 */
function aggregate(runs) {
  if (runs.length === 1) return runs[0];
  const sorted = [...runs].sort((a, b) => a.req_per_sec_mean - b.req_per_sec_mean);
  const mid = sorted[(sorted.length - 1) >> 1];
  return {
    ...mid,
    rounds: runs.length,
    median_round: runs.indexOf(mid) + 1,
    rounds_req_per_sec: runs.map((r) => r.req_per_sec_mean),
    non2xx_all_rounds: runs.reduce((a, r) => a + r.non2xx, 0),
    per_round: runs,
  };
}

function table(summary) {
  const bare = summary.bare?.req_per_sec_mean;
  const rows = SCENARIOS.filter((s) => summary[s.id]).map((s) => {
    const r = summary[s.id];
    const ratio = s.id === 'bare' || !bare ? null : r.req_per_sec_mean / bare;
    return { ...s, r, ratio };
  });
  const head = [
    'Scenario',
    'Access logs',
    'req/s (mean)',
    'p50 ms',
    'p99 ms',
    'vs bare',
    'server CPU µs/req',
    'other load (cores)',
  ];
  const ms = (x) => (x === 0 ? '<1' : String(x)); // autocannon's latency histogram has 1 ms resolution
  const body = rows.map(({ label, logs, r, ratio }) => [
    label,
    logs,
    String(r.req_per_sec_mean),
    ms(r.latency_ms.p50),
    ms(r.latency_ms.p99),
    ratio === null ? '100%' : `${(ratio * 100).toFixed(1)}%`,
    String(r.server_cpu_us_per_req ?? '?'),
    String(r.cpu?.other_cores ?? '?'),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells) =>
    cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const text = [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join(
    '\n',
  );
  const md = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i >= 2 ? '---:' : '---')).join('|')}|`,
    ...body.map((b) => `| ${b.join(' | ')} |`),
  ].join('\n');
  return { text, md, rows };
}

// ---- main ---------------------------------------------------------------------------------

async function main() {
  const server = await prepareServer();
  if (server.entry) astrdeskEnv = { ASTRDESK_SERVER_ENTRY: server.entry };
  const machine = machineInfo(REPO_ROOT);
  machine.server_build = {
    kind: server.kind,
    built_at: server.built_at,
    stale_vs_src: server.stale,
  };
  const stamp = machine.iso_date.replace(/[:.]/g, '-');
  log(
    `warmup ${opts.warmup} s, duration ${opts.duration} s, ${opts.connections} connections, pipelining ${opts.pipelining}, ` +
      `${opts.rounds} round(s)${opts.quick ? ' (--quick)' : ''}; load average ${machine.loadavg_at_start.join(' ')}`,
  );

  const results = Object.fromEntries(SCENARIOS.map((s) => [s.id, []]));
  const capture = {};
  for (let i = 1; i <= opts.rounds; i++) {
    if (opts.rounds > 1) log(`round ${i}/${opts.rounds}`);
    await runAstrdesk('silent', '', results, capture);
    await runBare(capture, results);
    if (opts.references) await runHono(capture, results);
    if (opts.logVariant) await runAstrdesk('info', '_info', results, null);
  }
  const summary = Object.fromEntries(
    Object.entries(results)
      .filter(([, runs]) => runs.length > 0)
      .map(([id, runs]) => [id, aggregate(runs)]),
  );

  const bare = summary.bare.req_per_sec_mean;
  const ratios = {};
  for (const id of Object.keys(summary))
    if (id !== 'bare') ratios[id] = round(summary[id].req_per_sec_mean / bare, 3);
  const headline = ratios.astrdesk_api_key;
  const targetMet = Object.entries(ratios)
    .filter(([id]) => id.startsWith('astrdesk_') && !id.endsWith('_info'))
    .every(([, r]) => r >= opts.targetRatio);

  let profile;
  if (opts.profile || !targetMet) {
    if (!targetMet)
      log(`ratio below the ${opts.targetRatio * 100}% target: profiling the AstrDesk server`);
    if (opts.profile || process.env.BENCH_PROFILE !== '0') profile = await profileAstrdesk(stamp);
  }

  const { text, md } = table(summary);
  const config = `warmup ${opts.warmup} s, measured ${opts.duration} s, ${opts.connections} connections, pipelining ${opts.pipelining}${
    opts.rounds > 1 ? `, median of ${opts.rounds} rounds` : ''
  }${opts.astrdeskNodeArgs.length ? `; AstrDesk child run with \`node ${opts.astrdeskNodeArgs.join(' ')}\` (experiment)` : ''}`;
  console.log(`\nHTTP: authenticated GET /v1/me vs bare node:http — ${config}`);
  console.log(
    `${machine.nproc} × ${machine.cpu_model}, ${machine.ram_gib} GiB, Node ${machine.node}, ${machine.os}; ${machine.date_utc}\n`,
  );
  console.log(text);
  console.log(
    `\nAstrDesk/bare req/s: API key ${(ratios.astrdesk_api_key * 100).toFixed(1)}%, session ${(ratios.astrdesk_session * 100).toFixed(1)}%` +
      (ratios.astrdesk_api_key_info !== undefined
        ? ` (with info access logs → /dev/null: ${(ratios.astrdesk_api_key_info * 100).toFixed(1)}% / ${(ratios.astrdesk_session_info * 100).toFixed(1)}%)`
        : '') +
      ` — target ≥ ${opts.targetRatio * 100}%: ${targetMet ? 'met' : 'NOT met'}`,
  );
  if (ratios.hono !== undefined) {
    console.log(
      `Reference: minimal Hono ${(ratios.hono * 100).toFixed(1)}% of bare, with bodyLimit ${(ratios.hono_body_limit * 100).toFixed(1)}%, with cors ${(ratios.hono_cors * 100).toFixed(1)}%; ` +
        `AstrDesk API key = ${((summary.astrdesk_api_key.req_per_sec_mean / summary.hono.req_per_sec_mean) * 100).toFixed(1)}% of minimal Hono`,
    );
  }
  const roundsLine =
    opts.rounds > 1
      ? `Per-round req/s: ${SCENARIOS.filter((x) => summary[x.id])
          .map((x) => `${x.id} ${summary[x.id].rounds_req_per_sec.join(' / ')}`)
          .join('; ')}`
      : '';
  if (roundsLine) console.log(roundsLine);
  console.log(
    `/v1/me body: API key ${capture.body.length} bytes (also served by the bare server), session ${capture.sessionBytes} bytes`,
  );

  const snippet = [
    `### HTTP: authenticated GET /v1/me vs bare node:http (${machine.iso_date.slice(0, 10)})`,
    '',
    `Machine: ${machine.nproc} × ${machine.cpu_model}, ${machine.ram_gib} GiB RAM, Node ${machine.node}, ${machine.os}. ${machine.date_utc}.`,
    `Run: ${config}; each server in its own child process, autocannon in the parent.`,
    '',
    md,
    '',
    ...(roundsLine ? [roundsLine, ''] : []),
    `AstrDesk/bare req/s (API key, logs silent): **${(headline * 100).toFixed(1)}%** (target ≥ ${opts.targetRatio * 100}%).`,
    '',
    `Latency percentiles have autocannon's 1 ms resolution. "server CPU µs/req" is the server child's CPU time over the` +
      ` requests served; "other load" is CPU (in cores) used by processes other than the server and autocannon during the run.` +
      ` Server: ${server.kind}, built ${server.built_at}${server.stale ? ' (OLDER than packages/server/src)' : ''}; git ${machine.git_head}${machine.server_src_dirty ? ' + uncommitted changes in packages/server' : ''}.`,
  ].join('\n');
  console.log(`\n--- Markdown ---\n${snippet}\n--- end ---`);

  fs.mkdirSync(opts.resultsDir, { recursive: true });
  const outFile = path.join(opts.resultsDir, `http-${stamp}${opts.quick ? '-quick' : ''}.json`);
  fs.writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        bench: 'http',
        options: opts,
        machine,
        bodies: {
          api_key_bytes: capture.body.length,
          session_bytes: capture.sessionBytes,
          content_type: capture.contentType,
        },
        summary,
        ratios,
        target_ratio: opts.targetRatio,
        target_met: targetMet,
        failures,
        profile,
        markdown: snippet,
      },
      null,
      2,
    )}\n`,
  );
  // Format like the rest of the repo so `npm run lint` stays clean (best effort).
  try {
    execFileSync(
      path.join(REPO_ROOT, 'node_modules', '.bin', 'biome'),
      ['format', '--write', outFile],
      { stdio: 'ignore' },
    );
  } catch {
    // biome missing or failed: the JSON is still valid
  }
  log(`results written to ${path.relative(REPO_ROOT, outFile)}`);

  if (failures.length > 0) {
    console.error(
      `\nFAILED: non-2xx responses or errors during the runs:\n  ${failures.join('\n  ')}`,
    );
    process.exit(1);
  }
}

main().catch(async (err) => {
  console.error('[bench] error:', err?.stack ?? err);
  await Promise.allSettled([...children].map((c) => c.stop()));
  process.exit(1);
});

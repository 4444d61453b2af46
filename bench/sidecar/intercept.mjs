// (b) Intercept over HTTP: POST /astrbot-api/v1/messages/intercept on the built sidecar
// (`node packages/sidecar/dist/cli.js`, a child process, real outbox draining to a stand-in
// for POST /v1/sidecar/events in another child) beside a bare node:http server answering the
// same {"action":"pass"} body (a third child). The same loads for both: 1 and 10 connections as
// fast as they go (autocannon, closed loop), and an open loop at 100, 1,000 and 5,000 requests/s
// (bench/lib/open-loop.mjs); a warm-up run, then a measured run. Latency percentiles come from
// per-response times (sub-ms), not autocannon's 1 ms-resolution histogram.
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { openLoop } from '../lib/open-loop.mjs';
import {
  buildSidecarDataDir,
  cpuMeter,
  forkChild,
  freePort,
  HERE,
  load,
  log,
  median,
  nextMessage,
  round,
  SIDECAR_CLI,
  sleep,
  spawnNode,
  stopChild,
  summary,
  tmpDir,
} from './lib.mjs';

const TOKEN = 'bench-api-token-0123456789';
const BODY = JSON.stringify({
  platform: 'qq',
  platform_instance_id: 'aiocqhttp-1',
  user_id: '10001',
  nickname: '小王',
  session: 'aiocqhttp:FriendMessage:10001',
  message_id: 'm-1',
  kind: 'text',
  text: '我想申请退款',
  sent_at: '2026-01-01T10:00:00.000Z',
});

/**
 * Node flags of the sidecar child. Investigation knobs (env): BENCH_SIDECAR_NODE_ARGS (extra
 * flags, space-separated, e.g. `--max-semi-space-size=32`), BENCH_PROF_INTERVAL (µs between
 * CPU-profile samples), BENCH_KEEP_PROFILES (a directory to keep the .cpuprofile files in).
 */
function sidecarNodeArgs(cfg) {
  const extra = process.env.BENCH_SIDECAR_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  if (!cfg.profileDir) return extra;
  const interval = process.env.BENCH_PROF_INTERVAL;
  return [
    ...extra,
    '--cpu-prof',
    `--cpu-prof-dir=${cfg.profileDir}`,
    ...(interval ? [`--cpu-prof-interval=${interval}`] : []),
  ];
}

/**
 * A load: `n` connections as fast as they go (closed loop, autocannon: at saturation the
 * latency is the queue in front of the slower server, so this compares capacity), or
 * `{rate}`: an open loop at that many requests per second in all (bench/lib/open-loop.mjs:
 * each request leaves when it is due, on a pool of keep-alive connections, so the latency is
 * what one request costs at that load, stalls included).
 */
export function loadOf(c) {
  if (typeof c === 'number') return { connections: c, rate: undefined, label: String(c) };
  return {
    connections: undefined,
    rate: c.rate,
    label: `open loop @ ${c.rate.toLocaleString('en')}/s`,
  };
}

const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

async function openLoopRun(url, rate, seconds) {
  const r = await openLoop({
    url,
    path: '/astrbot-api/v1/messages/intercept',
    headers: HEADERS,
    body: BODY,
    rate,
    seconds,
  });
  const s = summary(r.service, 3);
  return {
    rate,
    seconds,
    requests: s.n,
    req_per_s: Math.round(s.n / r.elapsed_s),
    latency_ms: s,
    corrected_latency_ms: summary(r.corrected, 3),
    statuses: r.statuses,
    errors: r.errors,
    unanswered: r.unanswered,
    non2xx: Object.entries(r.statuses).reduce((a, [k, v]) => a + (k.startsWith('2') ? 0 : v), 0),
    client_queued: r.client_queued,
    connections_opened: r.connections_opened,
    max_timer_late_ms: r.max_timer_late_ms,
  };
}

function cannon(url, load, seconds) {
  const { connections, rate } = loadOf(load);
  if (rate !== undefined) return openLoopRun(url, rate, seconds);
  return new Promise((resolve, reject) => {
    const lat = [];
    const statuses = {};
    const inst = autocannon(
      {
        url: `${url}/astrbot-api/v1/messages/intercept`,
        method: 'POST',
        connections,
        pipelining: 1,
        duration: seconds,
        headers: HEADERS,
        body: BODY,
      },
      (err, r) => {
        if (err) return reject(err);
        const s = summary(lat, 3);
        resolve({
          connections,
          seconds,
          requests: s.n,
          req_per_s: Math.round(s.n / seconds),
          latency_ms: s,
          statuses,
          errors: r.errors,
          timeouts: r.timeouts,
          non2xx: r.non2xx,
        });
      },
    );
    inst.on('response', (_client, status, _bytes, ms) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
      lat.push(ms);
    });
  });
}

async function waitReady(url, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.status === 200) return;
    } catch {}
    await sleep(20);
  }
  throw new Error(`sidecar at ${url} not ready after ${ms} ms`);
}

export async function runIntercept({
  quick = false,
  entries = 100_000,
  seconds = quick ? 3 : 10,
  warmup = quick ? 1 : 3,
  startupWarmup = quick ? 1 : 10,
  connections = [1, 10, { rate: 100 }, { rate: 1000 }, { rate: 5000 }],
  rounds = quick ? 1 : 3,
  profile = !quick,
  // The other configs and the what-ifs run at two loads only (one closed, one open), to keep
  // the whole benchmark near 20 minutes.
  otherLoads = [1, { rate: 1000 }],
  configs = quick
    ? [{ SIDECAR_OUTBOX_SYNC: 'normal', LOG_LEVEL: 'warn' }]
    : [
        { SIDECAR_OUTBOX_SYNC: 'normal', LOG_LEVEL: 'warn' },
        { SIDECAR_OUTBOX_SYNC: 'full', LOG_LEVEL: 'warn', loads: otherLoads },
        { SIDECAR_OUTBOX_SYNC: 'normal', LOG_LEVEL: 'info', loads: otherLoads },
        // what-ifs, to attribute the gap: the server unreachable (the sender backs off, rows
        // pile up — no drain work), the outbox write itself stubbed out (not a real mode), and
        // the background WAL flush off (checkpoints sync the whole WAL inside a commit)
        {
          SIDECAR_OUTBOX_SYNC: 'normal',
          LOG_LEVEL: 'warn',
          variant: 'no_drain',
          loads: otherLoads,
        },
        {
          SIDECAR_OUTBOX_SYNC: 'normal',
          LOG_LEVEL: 'warn',
          variant: 'no_outbox_write',
          loads: otherLoads,
        },
        {
          SIDECAR_OUTBOX_SYNC: 'normal',
          LOG_LEVEL: 'warn',
          variant: 'no_wal_flush',
          env: { SIDECAR_OUTBOX_WAL_FLUSH_MS: '0' },
          loads: otherLoads,
        },
      ],
} = {}) {
  const out = {
    started: load(),
    config: {
      entries,
      seconds,
      warmup_seconds: warmup,
      startup_warmup_seconds: startupWarmup,
      rounds,
      connections,
      body_bytes: Buffer.byteLength(BODY),
      pipelining: 1,
      client: 'autocannon 8 (in the bench process)',
    },
    runs: [],
    profiles: [],
  };
  const base = tmpDir('intercept');
  const kids = [];
  try {
    log(`(b) intercept: building a blacklist of ${entries}`);
    const built = await buildSidecarDataDir(base, entries);
    out.config.blacklist_db_bytes = built.bytes;
    const bare = await forkChild(path.join(HERE, 'children', 'http-stub.mjs'), { args: ['bare'] });
    const ingest = await forkChild(path.join(HERE, 'children', 'http-stub.mjs'), {
      args: ['ingest'],
    });
    kids.push(bare.child, ingest.child);
    const all = profile
      ? [
          ...configs,
          ...[1, 10, { rate: 1000 }].map((c) => ({
            SIDECAR_OUTBOX_SYNC: 'normal',
            LOG_LEVEL: 'warn',
            connections: c,
            profileDir: tmpDir('intercept-prof'),
          })),
        ]
      : configs;
    for (const cfg of all) {
      const dir = tmpDir('intercept-run');
      fs.copyFileSync(built.file, path.join(dir, 'blacklist.db'));
      const port = await freePort();
      const entry =
        cfg.variant === 'no_outbox_write'
          ? path.join(HERE, 'children', 'sidecar-no-outbox.mjs')
          : SIDECAR_CLI;
      const sc = spawnNode([...sidecarNodeArgs(cfg), entry], {
        env: {
          ASTRDESK_SERVER_URL:
            cfg.variant === 'no_drain' ? `http://127.0.0.1:${await freePort()}` : ingest.msg.url,
          ASTRDESK_INSTANCE_TOKEN: 'adi_bench_0000000000000000000000',
          SIDECAR_API_TOKEN: TOKEN,
          SIDECAR_PORT: String(port),
          SIDECAR_DATA_DIR: dir,
          SIDECAR_OUTBOX_SYNC: cfg.SIDECAR_OUTBOX_SYNC,
          LOG_LEVEL: cfg.LOG_LEVEL,
          // what-ifs: more sidecar settings for one config
          ...cfg.env,
        },
        // stdout (pino, one line per request at LOG_LEVEL=info) → /dev/null
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise((r) => sc.once('exit', r));
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitReady(url);
        // Once per sidecar start: 10 s at 10 connections. The first seconds of a fresh sidecar
        // (the outbox WAL file growing to its working size, the JIT, the background index fill)
        // are not its steady state, and made the first measured round an outlier.
        await cannon(url, 10, startupWarmup);
        const label = `SIDECAR_OUTBOX_SYNC=${cfg.SIDECAR_OUTBOX_SYNC} LOG_LEVEL=${cfg.LOG_LEVEL}${cfg.variant ? ` ${cfg.variant}` : ''}`;
        if (cfg.profileDir) {
          // A separate, profiled run (not one of the measured ones): where the sidecar's CPU goes.
          await cannon(url, cfg.connections, warmup);
          const meter = cpuMeter({ target: sc.pid });
          const r = await cannon(url, cfg.connections, seconds);
          cfg.profile = {
            config: label,
            connections: loadOf(cfg.connections).label,
            req_per_s: r.req_per_s,
            latency_ms: r.latency_ms,
            cpu: r.cpu ?? meter(),
          };
          out.profiles.push(cfg.profile);
        }
        for (const c of cfg.profileDir ? [] : (cfg.loads ?? connections)) {
          // `rounds` back-to-back bare/sidecar pairs (order alternating), so both see about the
          // same background load; the row reports medians over the rounds.
          const pair = { config: cfg, connections: loadOf(c).label, rounds: [] };
          for (let k = 0; k < rounds; k++) {
            const targets = [
              ['bare', bare.msg.url, bare.child.pid],
              ['sidecar', url, sc.pid],
            ];
            if (k % 2 === 1) targets.reverse();
            const rr = { round: k + 1 };
            for (const [name, target, pid] of targets) {
              await cannon(target, c, warmup);
              const meter = cpuMeter({ target: pid, ingest_stub: ingest.child.pid });
              const r = await cannon(target, c, seconds);
              r.cpu = meter();
              r.load_after = load().loadavg;
              rr[name] = r;
            }
            rr.p99_ratio = round(rr.sidecar.latency_ms.p99 / rr.bare.latency_ms.p99, 2);
            pair.rounds.push(rr);
            log(
              `(b) ${label} c=${loadOf(c).label} round ${k + 1}: bare p50 ${rr.bare.latency_ms.p50} p99 ${rr.bare.latency_ms.p99} ms ${rr.bare.req_per_s}/s | ` +
                `sidecar p50 ${rr.sidecar.latency_ms.p50} p99 ${rr.sidecar.latency_ms.p99} ms ${rr.sidecar.req_per_s}/s | p99 ×${rr.p99_ratio}`,
            );
          }
          const med = (name) => {
            const xs = pair.rounds.map((r) => r[name]);
            return {
              latency_ms: {
                p50: median(xs.map((x) => x.latency_ms.p50)),
                p90: median(xs.map((x) => x.latency_ms.p90)),
                p99: median(xs.map((x) => x.latency_ms.p99)),
              },
              req_per_s: median(xs.map((x) => x.req_per_s)),
              cpu: {
                target_cores: median(xs.map((x) => x.cpu.target_cores)),
                other_processes_cores: median(xs.map((x) => x.cpu.other_processes_cores)),
              },
              non2xx: xs.reduce((a, x) => a + x.non2xx, 0),
              errors: xs.reduce((a, x) => a + x.errors, 0),
              // Open loop only: latency from when each request was due (includes any wait for a
              // free connection), and how many had to wait or got no answer.
              ...(xs[0].corrected_latency_ms
                ? {
                    corrected_latency_ms: {
                      p50: median(xs.map((x) => x.corrected_latency_ms.p50)),
                      p99: median(xs.map((x) => x.corrected_latency_ms.p99)),
                    },
                    client_queued: xs.reduce((a, x) => a + x.client_queued, 0),
                    unanswered: xs.reduce((a, x) => a + x.unanswered, 0),
                  }
                : {}),
            };
          };
          pair.bare = med('bare');
          pair.sidecar = med('sidecar');
          pair.note =
            'bare/sidecar: medians over rounds; p99_ratio: median of the per-round ratios';
          pair.p99_ratio = median(pair.rounds.map((r) => r.p99_ratio));
          if (pair.sidecar.corrected_latency_ms)
            pair.corrected_p99_ratio = median(
              pair.rounds.map((r) =>
                round(r.sidecar.corrected_latency_ms.p99 / r.bare.corrected_latency_ms.p99, 2),
              ),
            );
          pair.p50_ratio = round(pair.sidecar.latency_ms.p50 / pair.bare.latency_ms.p50, 2);
          pair.rps_ratio = round(pair.sidecar.req_per_s / pair.bare.req_per_s, 2);
          out.runs.push(pair);
        }
        // Let the sender drain, then record what the sidecar says about itself.
        await sleep(1500);
        const h = await (await fetch(`${url}/astrbot-api/v1/health`)).json();
        ingest.child.send({ type: 'stats' });
        const st = await nextMessage(
          ingest.child,
          (m) => m?.type === 'stats',
          5000,
          'ingest stats',
        );
        if (cfg.profileDir)
          cfg.profile.after = {
            outbox_depth: h.outbox_depth,
            intercepts: h.intercepts,
            outbox_sent: h.outbox?.sent,
          };
        out.runs
          .filter((r) => r.config === cfg)
          .forEach((r) => {
            r.after = {
              outbox_depth: h.outbox_depth,
              intercepts: h.intercepts,
              outbox_sent: h.outbox?.sent,
              ingest_events_received_total: st.events,
              ingest_posts_total: st.posts,
            };
          });
      } finally {
        sc.kill('SIGTERM');
        const t = setTimeout(() => sc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      if (cfg.profileDir) {
        const f = fs.readdirSync(cfg.profileDir).find((x) => x.endsWith('.cpuprofile'));
        if (f) {
          const { summarize } = await import('../lib/cpuprofile-summary.mjs');
          const s = summarize(JSON.parse(fs.readFileSync(path.join(cfg.profileDir, f), 'utf8')), {
            top: 20,
            pkg: '@astrdesk/sidecar',
          });
          cfg.profile.summary = {
            busy_ms: s.busy_ms,
            idle_pct: s.idle_pct,
            self_by_package: s.self_by_package.slice(0, 12),
            self_by_function: s.self_by_function.slice(0, 20),
            self_by_line: s.self_by_line.slice(0, 20),
            inclusive_sidecar_functions: s.inclusive_server_functions.slice(0, 20),
          };
        }
        if (process.env.BENCH_KEEP_PROFILES)
          fs.cpSync(
            cfg.profileDir,
            path.join(
              process.env.BENCH_KEEP_PROFILES,
              loadOf(cfg.connections).rate
                ? `r${loadOf(cfg.connections).rate}`
                : `c${loadOf(cfg.connections).connections}`,
            ),
            {
              recursive: true,
            },
          );
        fs.rmSync(cfg.profileDir, { recursive: true, force: true });
      }
    }
  } finally {
    for (const k of kids) await stopChild(k);
    fs.rmSync(base, { recursive: true, force: true });
  }
  out.finished = load();
  return out;
}

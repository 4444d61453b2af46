#!/usr/bin/env node
// Intercept latency: POST /astrbot-api/v1/messages/intercept on the built sidecar vs a bare
// node:http server answering the same response, both in child processes, same client.
// Run from packages/sidecar after `npx tsup`:  node scripts/bench-intercept.mjs
// Env: BENCH_DURATION (s, 5; the first second is warm-up), BENCH_CONNECTIONS (comma list,
//      "1,10,50"), BENCH_SYNC (normal|full: SIDECAR_OUTBOX_SYNC), BENCH_ENTRIES (blacklist size,
//      10000), BENCH_NO_OUTBOX=1 (skip the outbox write, to price it), BENCH_SHOW_HISTOGRAM=1
//      (print the sidecar's own intercept_duration histogram), BENCH_PROFILE_DIR (run the sidecar
//      under --cpu-prof), BENCH_DRAIN=0 (no sender: rows accumulate, as in an outage; by default
//      the sender drains to an in-process stand-in for POST /v1/sidecar/events).
// Latency on a shared machine is noisy: compare runs on an idle one.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const duration = Number(process.env.BENCH_DURATION ?? 5) * 1000;
const connectionsList = (process.env.BENCH_CONNECTIONS ?? '1,10,50').split(',').map(Number);
const TOKEN = 'bench-api-token-0123456789';

const body = JSON.stringify({
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

function startChild(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}`)));
  });
}

async function load(url, connections) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const u = new URL(`${url}/astrbot-api/v1/messages/intercept`);
  const lat = [];
  const end = performance.now() + duration;
  const warmEnd = performance.now() + 1000;
  const one = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(
        {
          agent,
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
            else resolve(performance.now() - t0);
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const ms = await one();
        if (performance.now() > warmEnd) lat.push(ms);
      }
    }),
  );
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
  return {
    n: lat.length,
    rps: Math.round(lat.length / ((duration - 1000) / 1000)),
    p50: q(0.5),
    p99: q(0.99),
  };
}

const bareScript = path.join(os.tmpdir(), `bare-${process.pid}.mjs`);
fs.writeFileSync(
  bareScript,
  `import http from 'node:http';
const body = Buffer.from('{"action":"pass"}');
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, headers); res.end(body); }); });
s.listen(0, '127.0.0.1', () => process.stdout.write('READY http://127.0.0.1:' + s.address().port + '\\n'));`,
);
const sidecarScript = path.join(os.tmpdir(), `sidecar-${process.pid}.mjs`);
const dist = path.resolve(here, '..', 'dist', 'index.js');
fs.writeFileSync(
  sidecarScript,
  `import http from 'node:http';
import { loadConfig, startSidecar } from ${JSON.stringify(dist)};
const env = { ...process.env };
if (process.env.BENCH_DRAIN !== '0') {
  // A stand-in for POST /v1/sidecar/events, so the sender drains as in production.
  const ok = Buffer.from('{"object":"ingest_result","accepted":0,"results":[]}');
  const ingest = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': ok.length }); res.end(ok); }); });
  await new Promise((r) => ingest.listen(0, '127.0.0.1', r));
  env.ASTRDESK_SERVER_URL = 'http://127.0.0.1:' + ingest.address().port;
}
const sc = await startSidecar(loadConfig(env), { connect: false });
if (process.env.BENCH_DRAIN !== '0') sc.outbox.start();
const n = Number(process.env.BENCH_ENTRIES ?? 10000);
const changes = Array.from({ length: n }, (_, i) => ({ op: 'upsert', revision: i + 1, entry: { id: 'bl_' + i, platform: 'qq', platform_user_id: 'blocked' + i, reason: null, expires_at: null } }));
sc.cache.applyDelta(0, n, changes);
if (process.env.BENCH_NO_OUTBOX === '1') sc.outbox.append = () => Promise.resolve('sc_x');
process.on('SIGINT', () => sc.close().then(() => process.exit(0)));
process.stdout.write('READY ' + sc.url + '\\n');`,
);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-bench-'));
const bare = await startChild([bareScript], {});
const profileArgs = process.env.BENCH_PROFILE_DIR
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
  : [];
const sidecar = await startChild([...profileArgs, sidecarScript], {
  ASTRDESK_SERVER_URL: 'http://127.0.0.1:9',
  ASTRDESK_INSTANCE_TOKEN: 'adi_bench_0000000000000000000',
  SIDECAR_API_TOKEN: TOKEN,
  SIDECAR_PORT: '0',
  SIDECAR_DATA_DIR: dataDir,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  SIDECAR_OUTBOX_SYNC: process.env.BENCH_SYNC ?? 'normal',
});
try {
  for (const c of connectionsList) {
    const b = await load(bare.url, c);
    const s = await load(sidecar.url, c);
    console.log(
      `connections=${c}  bare p50 ${b.p50.toFixed(3)} ms p99 ${b.p99.toFixed(3)} ms (${b.rps}/s)  |  sidecar p50 ${s.p50.toFixed(3)} ms p99 ${s.p99.toFixed(3)} ms (${s.rps}/s)  |  p99 ratio ${(s.p99 / b.p99).toFixed(2)}`,
    );
  }
  if (process.env.BENCH_SHOW_HISTOGRAM === '1') {
    const m = await (await fetch(`${sidecar.url}/metrics`)).text();
    console.log(
      m
        .split('\n')
        .filter((l) => l.startsWith('astrdesk_sidecar_intercept_duration'))
        .join('\n'),
    );
  }
} finally {
  bare.child.kill();
  const exited = new Promise((r) => sidecar.child.once('exit', r));
  sidecar.child.kill('SIGINT');
  await exited;
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(bareScript, { force: true });
  fs.rmSync(sidecarScript, { force: true });
}

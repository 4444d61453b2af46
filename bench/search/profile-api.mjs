#!/usr/bin/env node
// Where an API search request spends its time: runs the server (private build) under
// `node --cpu-prof` on the database loaded by run.mjs, sends `--requests` cache-busted
// searches one at a time, and summarises the profile. Also measures a floor: the same route
// with a filter that matches nothing through an index (`conversation_id=none`), i.e. HTTP +
// auth + validation + one trivial query.
//
// Usage: node bench/search/profile-api.mjs [--db sqlite|postgres] [--requests 2000] [--q 退款]
import fs from 'node:fs';
import path from 'node:path';
import { argValue, buildServer, HERE, log, mdTable, r1, startServerChild, stats } from './lib.mjs';

const argv = process.argv.slice(2);
const kind = argValue(argv, 'db', 'sqlite');
const requests = Number(argValue(argv, 'requests', '2000'));
const qs = argValue(argv, 'q', '退款,申请退款,榴莲').split(',');
const noProfile = argv.includes('--no-profile');
const dataDir = path.resolve(argValue(argv, 'data-dir', '/tmp/astrdesk-bench-search'));
const dir = path.join(dataDir, kind);
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'bench-meta.json'), 'utf8'));
const pgUrl = new URL(argValue(argv, 'pg-url', 'postgres://postgres@127.0.0.1:5432/test'));
pgUrl.searchParams.set('application_name', 'astrdesk_bench_search');

const built = await buildServer();
const profDir = path.join(HERE, 'results', 'profiles');
fs.mkdirSync(profDir, { recursive: true });
const profName = `search-api-${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`;
const srv = await startServerChild({
  entry: built.entry,
  env: {
    BENCH_DB: kind,
    BENCH_DATA_DIR: dir,
    BENCH_SQLITE_FILE: path.join(dir, 'astrdesk.db'),
    BENCH_PG_URL: pgUrl.toString(),
    BENCH_PG_SCHEMA: argValue(argv, 'pg-schema', 'bench_search'),
    BENCH_MASTER_KEY: meta.masterKey,
    LOG_LEVEL: 'silent',
  },
  execArgv: noProfile
    ? []
    : ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}`],
});
let n = 0;
const get = async (qs) => {
  const to = new Date(Date.UTC(2030, 0, 1) + n++ * 1000).toISOString();
  const res = await fetch(
    `${srv.url}/v1/messages/search?${qs}&limit=20&to=${encodeURIComponent(to)}`,
    {
      headers: { authorization: `Bearer ${meta.apiKey}` },
    },
  );
  await res.json();
  if (res.status !== 200) throw new Error(`status ${res.status}`);
};
const cases = [
  ['floor: conversation_id=none (no q)', 'conversation_id=none'],
  ...qs.map((q) => [`q=${q}`, `q=${encodeURIComponent(q)}`]),
];
const rows = [];
for (const [name, query] of cases) {
  for (let i = 0; i < 20; i++) await get(query);
  const t = [];
  for (let i = 0; i < requests / cases.length; i++) {
    const a = performance.now();
    await get(query);
    t.push(performance.now() - a);
  }
  const st = stats(t);
  rows.push([name, st.n, r1(st.p50), r1(st.p95), r1(st.p99), r1(st.mean)]);
  log(name, rows.at(-1));
}
await srv.stop();
console.log(
  `\n${kind}: sequential requests, one client\n\n${mdTable(['case', 'n', 'p50', 'p95', 'p99', 'mean'], rows)}\n`,
);
if (!noProfile) {
  const { summarize, formatSummary } = await import('../lib/cpuprofile-summary.mjs');
  const file = path.join(profDir, profName);
  console.log(
    formatSummary(
      summarize(JSON.parse(fs.readFileSync(file, 'utf8')), { top: 30 }),
      `search API (${kind})`,
    ),
  );
  log(`profile: ${path.relative(process.cwd(), file)}`);
}

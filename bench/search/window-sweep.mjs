#!/usr/bin/env node
// PostgreSQL only: how the size of the "newest messages first" window of searchMessages
// (PG_SCAN_WINDOW in packages/server/src/search/index.ts) trades off across term frequencies.
// Runs searchMessages in-process against the database loaded by `run.mjs --db postgres`,
// rounds interleaved (every term × window once per round) so load from other processes
// spreads evenly. Reports the median and p95 per term and window, and the old single-query
// plan (`--old` compares against the query before the change, written out here).
//
// Usage: node bench/search/window-sweep.mjs [--rounds 40] [--windows 0,2500,5000,10000,20000]
//          [--pg-schema bench_search]
// Window 0 means "the old query": one `ORDER BY rid DESC LIMIT n+1` statement with the @@ filter.
import { argValue, buildServer, importServer, mdTable, r1, serverRequire, stats } from './lib.mjs';

const argv = process.argv.slice(2);
const rounds = Number(argValue(argv, 'rounds', '40'));
const windows = argValue(argv, 'windows', '0,2500,5000,10000,20000').split(',').map(Number);
const schema = argValue(argv, 'pg-schema', 'bench_search');
const url = argValue(argv, 'pg-url', 'postgres://postgres@127.0.0.1:5432/test');
const TERMS = (
  argValue(argv, 'terms', '') ||
  '退款,refund,coupon,尺码,exchange,invoice,申请售后,申请退款,快递 退款,榴莲'
).split(',');

const mod = await importServer((await buildServer()).entry);
const { Kysely, PostgresDialect, sql } = serverRequire('kysely');
const pg = serverRequire('pg');
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
const pool = new pg.Pool({ connectionString: url, max: 1, options: `-c search_path=${schema}` });
const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
const tenant = (await pool.query('select id from tenants limit 1')).rows[0].id;
const s = { db, database: { kind: 'postgres' } };

/** The query before the change: one statement, the planner picks walk or GIN. */
async function oldQuery(q) {
  const plan = mod.planQuery(q);
  return db
    .selectFrom('messages as m')
    .selectAll('m')
    .where('m.tenant_id', '=', tenant)
    .where('m.status', '!=', 'blocked_by_blacklist')
    .where(sql`m.search_vector @@ to_tsquery('simple', ${mod.toTsquery(plan)})`)
    .orderBy('m.rid', 'desc')
    .limit(21)
    .execute();
}

const counts = {};
for (const q of TERMS) {
  const { rows } = await pool.query(
    `select count(*)::int as n from messages where search_vector @@ to_tsquery('simple', $1)`,
    [mod.toTsquery(mod.planQuery(q))],
  );
  counts[q] = rows[0].n;
}
const total = (await pool.query('select count(*)::int as n from messages')).rows[0].n;
const samples = new Map();
const run = (q, w) =>
  w === 0
    ? oldQuery(q)
    : mod.searchMessages(s, tenant, { q, limit: 20 }, { includeBlocked: false, scanWindow: w });
for (const q of TERMS) for (const w of windows) await run(q, w); // warm
for (let r = 0; r < rounds; r++) {
  for (const q of TERMS) {
    for (const w of windows) {
      if (w === 0 && counts[q] < 100 && r >= 5) continue; // the old plan's worst case: 5 runs are enough
      const a = performance.now();
      await run(q, w);
      const k = `${q}|${w}`;
      if (!samples.has(k)) samples.set(k, []);
      samples.get(k).push(performance.now() - a);
    }
  }
}
const rows = TERMS.map((q) => [
  q,
  `${counts[q]} (${r1((1000 * counts[q]) / total) / 10}%)`,
  ...windows.map((w) => {
    const st = stats(samples.get(`${q}|${w}`) ?? []);
    return `${r1(st.p50)} / ${r1(st.p95)}`;
  }),
]);
const md = mdTable(
  [
    'q',
    'matches',
    ...windows.map((w) => (w === 0 ? 'old query p50 / p95 (ms)' : `window ${w} p50 / p95`)),
  ],
  rows,
);
console.log(
  `\n${new Date().toISOString()} — ${rounds} interleaved rounds, in-process searchMessages on PostgreSQL (${total} messages)\n\n${md}\n`,
);
await db.destroy();

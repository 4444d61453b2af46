#!/usr/bin/env node
// PostgreSQL only: searchMessages in-process across term frequencies (frequent words to terms
// in 10 of a million messages), against the database loaded by `run.mjs --db postgres`.
// Rounds are interleaved (every term once per round) so load from other processes spreads
// evenly. Per term: wall p50 / p95, statements per search, and CPU per search of this process
// and of its PostgreSQL backend (from /proc: steadier than wall time on a shared machine).
//
// Usage: node bench/search/term-sweep.mjs [--rounds 40] [--terms 退款,refund,...]
//          [--pg-schema bench_search] [--pg-url postgres://postgres@127.0.0.1:5432/test]
//          [--compare DIR]
// --compare DIR  also runs the searchMessages of another copy of packages/server/src (e.g.
//                `git archive <commit> packages/server/src | tar -x -C /tmp/old`, then
//                /tmp/old/packages/server/src), interleaved with the current one: an A/B
//                under the same load. The older code may need indexes the current schema
//                dropped (before migration 0005: messages_search_idx).
import fs from 'node:fs';
import path from 'node:path';
import {
  argValue,
  buildServer,
  HERE,
  importServer,
  mdTable,
  r1,
  r2,
  serverRequire,
  stats,
} from './lib.mjs';

const argv = process.argv.slice(2);
const rounds = Number(argValue(argv, 'rounds', '40'));
const schema = argValue(argv, 'pg-schema', 'bench_search');
const url = argValue(argv, 'pg-url', 'postgres://postgres@127.0.0.1:5432/test');
const TERMS = (
  argValue(argv, 'terms', '') ||
  '退款,refund,coupon,尺码,exchange,invoice,申请售后,申请退款,快递 退款,榴莲,zeppelin'
).split(',');

const compareDir = argValue(argv, 'compare', '');
const variants = [{ label: 'current', mod: await importServer((await buildServer()).entry) }];
if (compareDir) {
  const built = await buildServer({
    srcDir: path.resolve(compareDir),
    outDir: path.join(HERE, '.build', 'compare'),
  });
  variants.push({ label: 'compare', mod: await importServer(built.entry) });
}
const mod = variants[0].mod;
const { Kysely, PostgresDialect } = serverRequire('kysely');
const pg = serverRequire('pg');
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
const pool = new pg.Pool({ connectionString: url, max: 1, options: `-c search_path=${schema}` });
let statements = 0;
const db = new Kysely({
  dialect: new PostgresDialect({ pool }),
  log: (e) => {
    if (e.level === 'query') statements++;
  },
});
const tenant = (await pool.query('select id from tenants limit 1')).rows[0].id;
const backend = (await pool.query('select pg_backend_pid() as pid')).rows[0].pid;
const s = { db, database: { kind: 'postgres' } };
const procCpu = (pid) => {
  const rest = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
};

const counts = {};
for (const q of TERMS) {
  const { rows } = await pool.query(
    `select count(*)::int as n from messages where search_vector @@ to_tsquery('simple', $1)`,
    [mod.toTsquery(mod.planQuery(q))],
  );
  counts[q] = rows[0].n;
}
const total = (await pool.query('select count(*)::int as n from messages')).rows[0].n;
const run = (v, q) => v.mod.searchMessages(s, tenant, { q, limit: 20 }, { includeBlocked: false });
for (const v of variants) for (const q of TERMS) await run(v, q); // warm
const key = (v, q) => `${v.label}|${q}`;
const per = new Map(
  variants.flatMap((v) => TERMS.map((q) => [key(v, q), { wall: [], node: 0, pg: 0, stmts: 0 }])),
);
for (let r = 0; r < rounds; r++) {
  for (const q of TERMS) {
    for (const v of variants) {
      const m = per.get(key(v, q));
      const c0 = process.cpuUsage();
      const p0 = procCpu(backend);
      const n0 = statements;
      const a = performance.now();
      await run(v, q);
      m.wall.push(performance.now() - a);
      const c = process.cpuUsage(c0);
      m.node += (c.user + c.system) / 1000;
      m.pg += (procCpu(backend) - p0) * 1000;
      m.stmts += statements - n0;
    }
  }
}
const rows = variants.flatMap((v) =>
  TERMS.map((q) => {
    const m = per.get(key(v, q));
    const st = stats(m.wall);
    return [
      ...(variants.length > 1 ? [v.label] : []),
      q,
      `${counts[q]} (${r2((100 * counts[q]) / total)}%)`,
      `${r1(st.p50)} / ${r1(st.p95)}`,
      r1(m.stmts / rounds),
      r2(m.node / rounds),
      r2(m.pg / rounds),
    ];
  }),
);
const md = mdTable(
  [
    ...(variants.length > 1 ? ['code'] : []),
    'q',
    'matches',
    'in-process p50 / p95 (ms)',
    'statements',
    'node CPU ms/search',
    'PostgreSQL CPU ms/search',
  ],
  rows,
);
const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(
  `\n${new Date().toISOString()} — ${rounds} interleaved rounds, in-process searchMessages on PostgreSQL (${total} messages), load average ${load}\n\n${md}\n`,
);
await db.destroy();

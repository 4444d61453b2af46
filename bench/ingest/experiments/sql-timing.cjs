// EXPERIMENT (preload, not part of the server): times every better-sqlite3 prepare() and
// statement run/all/get by SQL text, and prints the totals to stderr when the process exits.
//   node bench/ingest/run.mjs --node-args "--require ./bench/ingest/experiments/sql-timing.cjs"
const { createRequire } = require('node:module');
const path = require('node:path');
const req = createRequire(
  path.resolve(__dirname, '..', '..', '..', 'packages', 'server', 'package.json'),
);
const Database = req('better-sqlite3');
const stats = new Map();
const entry = (sql) => {
  let e = stats.get(sql);
  if (!e) {
    e = { prepares: 0, prepareMs: 0, execs: 0, execMs: 0 };
    stats.set(sql, e);
  }
  return e;
};
const prepare = Database.prototype.prepare;
Database.prototype.prepare = function timedPrepare(sql, ...rest) {
  const a = performance.now();
  const stmt = prepare.call(this, sql, ...rest);
  const e = entry(sql);
  e.prepares++;
  e.prepareMs += performance.now() - a;
  for (const m of ['run', 'all', 'get']) {
    const orig = stmt[m];
    stmt[m] = function (...args) {
      const b = performance.now();
      try {
        return orig.apply(this, args);
      } finally {
        e.execs++;
        e.execMs += performance.now() - b;
      }
    };
  }
  return stmt;
};
process.on('exit', () => {
  const rows = [...stats.entries()].sort(
    (x, y) => y[1].execMs + y[1].prepareMs - (x[1].execMs + x[1].prepareMs),
  );
  const total = rows.reduce((s, [, e]) => s + e.execMs + e.prepareMs, 0);
  let out = `\n-- SQL time by statement (total ${total.toFixed(0)} ms)\n  exec ms  execs  µs/exec  prepare ms  statement\n`;
  for (const [sql, e] of rows.slice(0, 25))
    out += `${e.execMs.toFixed(0).padStart(9)} ${String(e.execs).padStart(6)} ${(e.execs ? (1000 * e.execMs) / e.execs : 0).toFixed(1).padStart(8)} ${e.prepareMs.toFixed(0).padStart(11)}  ${sql.replace(/\s+/g, ' ').slice(0, 150)}\n`;
  process.stderr.write(out);
});

// EXPERIMENT, not part of the server: preload that makes better-sqlite3's Database#prepare
// return a cached statement per SQL string. Kysely's SqliteDriver calls prepare() on every
// query; this prices what a statement cache would save. Use:
//   BENCH_ASTRDESK_NODE_ARGS="--require ./experiments/sqlite-stmt-cache.cjs" npm run bench:http
const { createRequire } = require('node:module');
const path = require('node:path');

const serverRequire = createRequire(
  path.resolve(__dirname, '..', '..', 'packages', 'server', 'package.json'),
);
const Database = serverRequire('better-sqlite3');
const prepare = Database.prototype.prepare;
const caches = new WeakMap();
Database.prototype.prepare = function cachedPrepare(sql) {
  let cache = caches.get(this);
  if (!cache) {
    cache = new Map();
    caches.set(this, cache);
  }
  let stmt = cache.get(sql);
  if (!stmt) {
    stmt = prepare.call(this, sql);
    cache.set(sql, stmt);
  }
  return stmt;
};

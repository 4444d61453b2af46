import { type Compilable, CompiledQuery } from 'kysely';
import type { Db, Tx } from './index.js';

/**
 * Hot queries compiled once per database and then run with fresh parameters. Building and
 * compiling a Kysely query costs about as much as SQLite running a small indexed one, and the
 * SQL text depends only on the dialect, so the event log and batch ingest compile theirs once.
 * Reusing the same SQL string also lets the SQLite statement cache (infra/db) find its
 * prepared statement without re-hashing a freshly built string.
 */
const compiledByDb = new WeakMap<Db, Map<unknown, CompiledQuery>>();

/**
 * The query `build` makes, compiled once per `db` under `key`. `params` is how many bound
 * parameters the caller will pass (-1: not checked): a builder that inlined a value instead of binding it
 * would silently ignore the caller's values, so a mismatch throws at the first compile.
 */
export function compileOnce(
  db: Db,
  key: unknown,
  params: number,
  build: (db: Db) => Compilable<unknown>,
): CompiledQuery {
  let byKey = compiledByDb.get(db);
  if (!byKey) {
    byKey = new Map();
    compiledByDb.set(db, byKey);
  }
  let q = byKey.get(key);
  if (!q) {
    q = build(db).compile();
    if (params >= 0 && q.parameters.length !== params)
      throw new Error(
        `compiled query ${String(key)} binds ${q.parameters.length} parameters, expected ${params}`,
      );
    byKey.set(key, q);
  }
  return q;
}

/** Runs a query from `compileOnce` in `tx` with `params`, in the order the builder bound them. */
export async function runCompiled<R>(
  tx: Tx | Db,
  q: CompiledQuery,
  params: readonly unknown[],
): Promise<R[]> {
  const r = await tx.executeQuery<R>(CompiledQuery.raw(q.sql, params as unknown[]));
  return r.rows;
}

/**
 * SQLite binds at most 32,766 parameters per statement (999 before 3.32); stay under the old
 * limit so any build works. PostgreSQL allows 65,535.
 */
export const MAX_BOUND_PARAMS = 999;

/**
 * Row counts for multi-row statements: whole chunks of `per` rows, then the rest split into
 * powers of two, so only log2(per) + 1 distinct statements per table are ever compiled and
 * prepared (37 rows with per = 32: 32, 4, 1).
 */
export function chunkSizes(total: number, per: number): number[] {
  const sizes: number[] = [];
  let left = total;
  while (left >= per) {
    sizes.push(per);
    left -= per;
  }
  for (let p = per >> 1; p >= 1; p >>= 1) {
    if (left >= p) {
      sizes.push(p);
      left -= p;
    }
  }
  return sizes;
}

/** The largest power of two ≤ 128 rows whose `columns` parameters fit in one statement. */
export function rowsPerStatement(columns: number): number {
  let per = 1;
  while (per < 128 && per * 2 * columns <= MAX_BOUND_PARAMS) per *= 2;
  return per;
}

type TableName = keyof import('./schema.js').Database & string;

/**
 * Inserts `rows` (values in the order of `columns`) into `table` with multi-row statements
 * compiled once per row count, chunked under the bound-parameter limit. With `returning`,
 * returns those columns of every inserted row; their order is not promised by either
 * database, so callers match them by a key.
 */
export async function insertRows<R = Record<string, unknown>>(
  db: Db,
  tx: Tx,
  table: TableName,
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
  returning: readonly string[] = [],
): Promise<R[]> {
  const out: R[] = [];
  const per = rowsPerStatement(columns.length);
  let at = 0;
  for (const n of chunkSizes(rows.length, per)) {
    const q = compileOnce(
      db,
      `insert:${table}:${columns.join(',')}:${n}:${returning.join(',')}`,
      n * columns.length,
      (d) => {
        // A non-null placeholder so every value becomes a bound parameter.
        const row = Object.fromEntries(columns.map((c) => [c, '']));
        const ins = d.insertInto(table).values(Array.from({ length: n }, () => row) as never);
        return returning.length > 0 ? ins.returning(returning as never) : ins;
      },
    );
    const params: unknown[] = [];
    for (let i = at; i < at + n; i++) for (const v of rows[i]!) params.push(v);
    at += n;
    const r = await runCompiled<R>(tx, q, params);
    if (returning.length > 0) for (const x of r) out.push(x);
  }
  return out;
}

/** A column `updateRows` sets, with its PostgreSQL type (VALUES parameters need one). */
export type UpdateColumn = readonly [name: string, pgType: 'text' | 'bigint' | 'integer'];

const updateSqlCache = new Map<string, string>();

/**
 * Updates many rows by key with one statement per chunk instead of one per row:
 * `UPDATE t SET c = v.c … FROM (VALUES (…), …) AS v WHERE t.key = v.key`. Each row is
 * `[key, ...values in the order of columns]`; keys must be distinct. SQLite (3.33+) names
 * the VALUES columns column1…; PostgreSQL takes aliases and a cast per parameter.
 */
export async function updateRows(
  kind: 'sqlite' | 'postgres',
  tx: Tx,
  table: TableName,
  key: UpdateColumn,
  columns: readonly UpdateColumn[],
  rows: readonly (readonly unknown[])[],
): Promise<void> {
  const all = [key, ...columns];
  const per = rowsPerStatement(all.length);
  let at = 0;
  for (const n of chunkSizes(rows.length, per)) {
    const cacheKey = `${kind}:${table}:${all.map((c) => c[0]).join(',')}:${n}`;
    let text = updateSqlCache.get(cacheKey);
    if (!text) {
      const q = (s: string) => `"${s}"`;
      let p = 0;
      const tuple = () =>
        `(${all.map(([, type]) => (kind === 'postgres' ? `$${++p}::${type}` : '?')).join(', ')})`;
      const values = Array.from({ length: n }, tuple).join(', ');
      const ref = (i: number) =>
        kind === 'postgres' ? `"v".${q(all[i]![0])}` : `"v"."column${i + 1}"`;
      const alias = kind === 'postgres' ? `(${all.map((c) => q(c[0])).join(', ')})` : '';
      text =
        `update ${q(table)} set ${columns.map((c, i) => `${q(c[0])} = ${ref(i + 1)}`).join(', ')} ` +
        `from (values ${values}) as "v"${alias} where ${q(table)}.${q(key[0])} = ${ref(0)}`;
      updateSqlCache.set(cacheKey, text);
    }
    const params: unknown[] = [];
    for (let i = at; i < at + n; i++) for (const v of rows[i]!) params.push(v);
    at += n;
    await tx.executeQuery(CompiledQuery.raw(text, params));
  }
}

/**
 * A query built and compiled once per database, then run with new parameter values. Building
 * and compiling a Kysely query costs about as much as SQLite running a primary-key lookup, so
 * the queries on every request's path (credential lookups, `GET /v1/me`) pay it once.
 *
 * The builder's parameters are placeholders: `run` replaces them, in order, with `values`; pass
 * `tx` to run it inside a transaction (it is still compiled once, against `db`).
 *
 * @example
 * const memberById = compiled((db) =>
 *   db.selectFrom('members').selectAll().where('id', '=', '').limit(1),
 * );
 * const [row] = await memberById.run(db, [memberId]);
 */
export function compiled<Row>(
  build: (db: Db) => {
    compile(): CompiledQuery<Row>;
  },
): { run(db: Db, values: readonly unknown[], tx?: Tx): Promise<Row[]> } {
  const key = {};
  return {
    async run(db, values, tx) {
      const c = compileOnce(db, key, -1, build);
      // `limit(1)` and the like compile to parameters after the placeholders: keep those.
      return runCompiled<Row>(tx ?? db, c, [...values, ...c.parameters.slice(values.length)]);
    },
  };
}

import { type CompiledQuery, CompiledQuery as CQ } from 'kysely';
import type { Db } from './index.js';

/**
 * A query built and compiled once per database, then run with new parameter values. Building
 * and compiling a Kysely query costs about as much as SQLite running a primary-key lookup, so
 * the queries on every request's path (credential lookups, `GET /v1/me`) pay it once.
 *
 * The builder's parameters are placeholders: `run` replaces them, in order, with `values`.
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
): { run(db: Db, values: readonly unknown[]): Promise<Row[]> } {
  const byDb = new WeakMap<Db, CompiledQuery<Row>>();
  return {
    async run(db, values) {
      let c = byDb.get(db);
      if (!c) {
        c = build(db).compile();
        byDb.set(db, c);
      }
      // `limit(1)` and the like compile to parameters after the placeholders: keep those.
      const params = [...values, ...c.parameters.slice(values.length)];
      const r = await db.executeQuery<Row>(CQ.raw(c.sql, params));
      return r.rows;
    },
  };
}

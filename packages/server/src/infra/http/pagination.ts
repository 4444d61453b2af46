import type { PageOf } from '@astrdesk/protocol';
import { type SelectQueryBuilder, sql } from 'kysely';
import { ApiError } from './errors.js';

/** Opaque cursor: base64url JSON. Clients must not build or parse it. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes a cursor of the expected shape, or answers 400 `invalid_cursor`. */
export function decodeCursor<T extends Record<string, string | number>>(
  cursor: string | undefined,
  keys: { [K in keyof T]: 'string' | 'number' },
): T | undefined {
  if (cursor === undefined) return undefined;
  const bad = () =>
    new ApiError('invalid_cursor', 'cursor is not one this API issued', { param: 'cursor' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad();
  for (const [k, t] of Object.entries(keys)) {
    if (typeof (parsed as Record<string, unknown>)[k] !== t) throw bad();
  }
  return parsed as T;
}

/**
 * Keyset pagination over rows ordered by a unique, time-ordered `id`, newest first. The caller
 * gives the query with its filters (tenant scope first); this adds the cursor condition, the
 * order and the limit, runs it, and shapes the page.
 *
 * @example
 * const page = await paginateById(
 *   db.selectFrom('members').selectAll().where('tenant_id', '=', c.var.tenantId),
 *   c.req.valid('query'),
 *   toMember,
 * );
 */
export async function paginateById<DB, TB extends keyof DB, Row extends { id: string }, Item>(
  query: SelectQueryBuilder<DB, TB, Row>,
  page: { cursor?: string | undefined; limit?: number | undefined },
  map: (row: Row) => Item,
): Promise<PageOf<Item>> {
  const n = page.limit ?? 20;
  const before = decodeCursor<{ id: string }>(page.cursor, { id: 'string' })?.id;
  const id = sql.ref<string>('id');
  const rows = await query
    .$if(before !== undefined, (qb) => qb.where(id, '<', before as string))
    .orderBy(id, 'desc')
    .limit(n + 1)
    .execute();
  const has_more = rows.length > n;
  const pageRows = has_more ? rows.slice(0, n) : rows;
  const last = pageRows.at(-1);
  return {
    data: pageRows.map(map),
    next_cursor: has_more && last ? encodeCursor({ id: last.id }) : null,
    has_more,
  };
}

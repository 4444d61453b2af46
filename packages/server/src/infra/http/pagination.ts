import type { PageOf } from '@astrdesk/protocol';
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
 * Keyset pagination over rows ordered by a unique, time-ordered `id`, newest first.
 * `fetch(beforeId, n)` must return up to `n` rows with `id < beforeId` (all when undefined),
 * ordered by id descending.
 *
 * @example
 * const page = await paginateById(q.cursor, q.limit, (before, n) =>
 *   db.selectFrom('members').where('tenant_id', '=', t)
 *     .$if(before !== undefined, (qb) => qb.where('id', '<', before!))
 *     .orderBy('id', 'desc').limit(n).selectAll().execute(), toMember);
 */
export async function paginateById<Row extends { id: string }, Item>(
  cursor: string | undefined,
  limit: number | undefined,
  fetch: (beforeId: string | undefined, n: number) => Promise<Row[]>,
  map: (row: Row) => Item,
): Promise<PageOf<Item>> {
  const n = limit ?? 20;
  const before = decodeCursor<{ id: string }>(cursor, { id: 'string' })?.id;
  const rows = await fetch(before, n + 1);
  const has_more = rows.length > n;
  const pageRows = has_more ? rows.slice(0, n) : rows;
  const last = pageRows.at(-1);
  return {
    data: pageRows.map(map),
    next_cursor: has_more && last ? encodeCursor({ id: last.id }) : null,
    has_more,
  };
}

import { type Kysely, sql } from 'kysely';
import { isSqlite } from './util.js';

/**
 * PostgreSQL: a message search must return the newest page of matches, but a GIN index yields
 * matches in no order, so a page meant reading (and sorting) every match of the term, or
 * walking the newest messages one by one; the planner cannot tell which is cheaper (a phrase
 * query is always estimated at ~1 row). This index adds, per message, lexemes the tokenizer can
 * never produce (they start with `~`):
 *   ~t<tenant_id>           — the tenant, so a query can be restricted to it inside the index;
 *   ~a<rid >> 12>, ~b<rid >> 15>, ~c<rid >> 18>
 *                           — the message's bucket of 4,096 / 32,768 / 262,144 consecutive rids,
 * so `q & ('~a244' | '~a243')` finds, inside the index, only the matches among the newest few
 * thousand messages, and the heap is read for those alone. The stored rows are unchanged (it is
 * an expression over `search_vector`, `tenant_id` and `rid`), and it replaces the plain index
 * on `search_vector`, which the search no longer uses.
 *
 * `gin_pending_list_limit`: new rows go to the GIN pending list, which every search scans in
 * full; 4 MB (the default) would add milliseconds to every search between flushes, 512 kB
 * keeps that small while inserts still batch their index updates.
 *
 * Creating it takes about 40 s per million messages and blocks writes to `messages` meanwhile.
 *
 * SQLite: nothing to do. FTS5 returns matches by rowid, newest first, without help.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema as it was
export async function up(db: Kysely<any>): Promise<void> {
  if (isSqlite(db)) return;
  await sql`create index messages_search_doc_idx on messages using gin ((search_vector || array_to_tsvector(array['~t' || tenant_id, '~a' || (rid >> 12)::text, '~b' || (rid >> 15)::text, '~c' || (rid >> 18)::text]))) with (gin_pending_list_limit = 512)`.execute(
    db,
  );
  await sql`drop index if exists messages_search_idx`.execute(db);
  // Statistics of the new expression, so the planner can estimate it now rather than after
  // autovacuum's next analyze (which waits for 10 % of the table to change).
  await sql`analyze messages`.execute(db);
}

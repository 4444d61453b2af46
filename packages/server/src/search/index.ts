import { ListQuery, MessageSearchHit, MessageSearchQuery, Page } from '@astrdesk/protocol';
import { type RawBuilder, sql } from 'kysely';
import { canSeeBlocked } from '../conversations/index.js';
import { type MessageRow, toMessage } from '../conversations/service.js';
import type { Db } from '../infra/db/index.js';
import { ApiError } from '../infra/http/errors.js';
import { decodeCursor, encodeCursor } from '../infra/http/pagination.js';
import { defineRoute, json } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import type { Services } from '../infra/services.js';
import { SearchCache } from './cache.js';
import { planQuery, type SearchPlan, snippet, toFts5, toTsquery } from './tokenize.js';

export { planQuery, snippet, tokenize } from './tokenize.js';

const searchRoute = defineRoute(
  { scope: 'messages:read' },
  {
    method: 'get',
    path: '/v1/messages/search',
    tags: ['Messages'],
    summary: 'Search messages',
    description:
      'Full text over Chinese and Latin (`q`: space-separated terms, all must match; a Chinese word of any length ≥ 2 is matched exactly, e.g. 退款), with filters. Newest first, cursor pages, snippets with matches in `<mark>`. Repeated queries are served from a short-lived cache that new messages invalidate.',
    request: { query: ListQuery.extend(MessageSearchQuery.shape) },
    responses: { 200: json(Page(MessageSearchHit), 'Matching messages') },
  },
);

type Hit = ReturnType<typeof toMessage> & { snippet: string | null };
type SearchPage = { data: Hit[]; next_cursor: string | null; has_more: boolean };

const caches = new WeakMap<Services, SearchCache<SearchPage>>();

/** The tenant's search cache, invalidated by every new message (on every replica, via the bus). */
function cacheFor(s: Services): SearchCache<SearchPage> {
  let cache = caches.get(s);
  if (!cache) {
    const created = new SearchCache<SearchPage>();
    cache = created;
    caches.set(s, created);
    const unsubscribe = s.events.bus.subscribe((e) => {
      if (
        e.type === 'message.created' ||
        e.type === 'message.blocked' ||
        e.type === 'message.updated'
      )
        created.invalidate(e.tenantId);
    });
    s.background.push({ stop: unsubscribe });
  }
  return cache;
}

export interface SearchInput {
  q?: string | undefined;
  contact_id?: string | undefined;
  nickname?: string | undefined;
  agent_id?: string | undefined;
  kind?: string | undefined;
  conversation_id?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (ch) => `\\${ch}`);

/** The columns a hit needs: not the search columns (on PostgreSQL a tsvector per row). */
const HIT_COLUMNS = [
  'm.rid',
  'm.id',
  'm.tenant_id',
  'm.conversation_id',
  'm.contact_id',
  'm.sender',
  'm.agent_id',
  'm.kind',
  'm.text',
  'm.media',
  'm.status',
  'm.internal',
  'm.platform_message_id',
  'm.created_at',
] as const;

/**
 * PostgreSQL, a search within one conversation or contact: how many of its newest messages are
 * tested one by one before the GIN index is asked instead. Most conversations and contacts
 * have fewer, so the index (whose entries span the tenant) is rarely read at all; past that,
 * a walk costs ~4 ms per 10,000 messages.
 */
export const PG_SCAN_WINDOW = 10_000;

const messagesFrom = (db: Db) => db.selectFrom('messages as m');
/** The messages of one tenant, every filter applied but the text match. */
type FilteredMessages = ReturnType<typeof messagesFrom>;

/**
 * tsquery text for lexemes the tokenizer never produces (see migration 0005), quoted so that
 * the cast keeps them verbatim.
 */
const quoteLexeme = (lexeme: string) => `'${lexeme.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
const tenantLexeme = (tenantId: string) => quoteLexeme(`~t${tenantId}`);

/**
 * `q`, AND every group of `restrictions` (lexemes ORed), against the expression that
 * migration 0005's GIN index is built on: it must stay character for character the same, or
 * the index is not used. Single characters (LIKE) are checked on the rows found.
 */
export function docMatch(
  tsquery: string,
  restrictions: Array<string | RawBuilder<string>>,
  singles: RawBuilder<boolean>[],
) {
  const query = restrictions.reduce(
    (q, r) => sql`${q} && (${r})::tsquery`,
    sql`to_tsquery('simple', ${tsquery})`,
  );
  return sql<boolean>`(${sql.join(
    [
      sql`(m.search_vector || array_to_tsvector(array['~t' || m.tenant_id, '~a' || (m.rid >> 12)::text, '~b' || (m.rid >> 15)::text, '~c' || (m.rid >> 18)::text])) @@ (${query})`,
      ...singles,
    ],
    sql` and `,
  )})`;
}

/** Bucket sizes of migration 0005's lexemes (~a, ~b, ~c): 4,096, 32,768 and 262,144 rids. */
const BUCKET_LEVELS = [
  { prefix: '~a', shift: 12 },
  { prefix: '~b', shift: 15 },
  { prefix: '~c', shift: 18 },
] as const;

/**
 * A tenant that owns less than this share of the newest rids is "sparse": its ranges hold mostly
 * other tenants' matches, so the index scan is also restricted to the tenant (~t). A dense
 * tenant is not: the scan would then step through the tenant's own huge entry for every
 * candidate (~5 ms at a million messages) to rule out almost nothing. The share is measured
 * over the tenant's newest DENSITY_PROBE messages (an index-only walk of (tenant_id, rid)).
 */
const SPARSE_TENANT_SHARE = 0.5;
const DENSITY_PROBE = 1024;

type HitRow = Omit<MessageRow, 'search_tokens'>;

/**
 * PostgreSQL: the newest `want` matches of the tenant below `before` (a cursor rid), found range
 * by range, newest range first: the two newest buckets of 4,096 rids, then of 32,768, then of
 * 262,144, then everything older. Each range is one statement whose GIN scan is restricted to
 * the range's buckets, so it reads the heap only for matches inside the range; its matches are
 * materialized (no ORDER BY/LIMIT reaches the planner, which could otherwise choose to walk the
 * rid index backwards and test every row) and the newest of them taken. A frequent term is done
 * after the first range: one statement, which also finds where the tenant's rids start.
 */
async function searchByBuckets(
  s: Services,
  tenantId: string,
  filtered: FilteredMessages,
  plan: SearchPlan,
  singles: RawBuilder<boolean>[],
  want: number,
  before: number | undefined,
): Promise<HitRow[]> {
  const { db } = s;
  const tsquery = toTsquery(plan);
  const tenant = tenantLexeme(tenantId);
  // First range, anchored in SQL at the tenant's newest message below the cursor (`top`).
  const newest = messagesFrom(db)
    .where('m.tenant_id', '=', tenantId)
    .$if(before !== undefined, (b) => b.where('m.rid', '<', before!))
    .select('m.rid')
    .orderBy('m.rid', 'desc');
  const top = sql<number>`(select top from a)`;
  const [first] = BUCKET_LEVELS;
  const buckets = sql<string>`format('%L | %L', ${first.prefix}::text || (${top} >> ${sql.lit(first.shift)}), ${first.prefix}::text || ((${top} >> ${sql.lit(first.shift)}) - 1))`;
  const restriction = sql<string>`case when (select sparse from a) then ${buckets} || ' & ' || ${tenant}::text else ${buckets} end`;
  const hits = filtered
    .where(
      'm.rid',
      '>=',
      sql<number>`((${top} >> ${sql.lit(first.shift)}) - 1) << ${sql.lit(first.shift)}`,
    )
    .where(docMatch(tsquery, [restriction], singles))
    .select(HIT_COLUMNS);
  // `offset 0` keeps the probes in their subquery: pulled up, every use of top or deep would
  // run its probe again.
  const { rows: firstRows } = await sql<
    { top: number | string | null; sparse: boolean | null } & (
      | { [K in keyof HitRow]: HitRow[K] }
      | { [K in keyof HitRow]: null }
    )
  >`with a as materialized (
      select top, deep is null or ${DENSITY_PROBE}::float8 / (top - deep + 1) < ${SPARSE_TENANT_SHARE} as sparse
      from (select (${newest.limit(1)}) as top, (${newest.offset(DENSITY_PROBE - 1).limit(1)}) as deep offset 0) as probe
    ), hits as materialized (${hits})
    select a.top, a.sparse, h.* from a left join lateral (
      select * from hits order by hits.rid desc limit ${want}
    ) as h on true`.execute(db);
  const head = firstRows[0];
  if (head?.top == null) return [];
  const topRid = Number(head.top);
  const sparse = head.sparse === true;
  const rows: HitRow[] = [];
  for (const r of firstRows) {
    if (r.rid === null) continue;
    const { top: _top, sparse: _sparse, ...row } = r;
    rows.push(row as HitRow);
  }
  // Rids from `upper` (exclusive) down are still to be searched.
  let upper = Math.max(0, (Math.floor(topRid / 2 ** first.shift) - 1) * 2 ** first.shift);
  const range = async (lower: number, restrictions: string[]) => {
    const found = await db
      .with(
        (w) => w('hits').materialized(),
        () =>
          filtered
            .where('m.rid', '<', upper)
            .$if(lower > 0, (b) => b.where('m.rid', '>=', lower))
            .where(docMatch(tsquery, restrictions, singles))
            .select(HIT_COLUMNS),
      )
      .selectFrom('hits')
      .selectAll()
      .orderBy('hits.rid', 'desc')
      .limit(want - rows.length)
      .execute();
    rows.push(...found);
    upper = lower;
  };
  for (const { prefix, shift } of BUCKET_LEVELS.slice(1)) {
    if (rows.length >= want || upper === 0) return rows;
    const bucket = Math.floor(topRid / 2 ** shift);
    const lower = Math.max(0, (bucket - 1) * 2 ** shift);
    if (lower >= upper) continue;
    const buckets = [bucket, bucket - 1]
      .filter((b) => b >= 0)
      .map((b) => quoteLexeme(`${prefix}${b}`))
      .join(' | ');
    await range(lower, sparse ? [buckets, tenant] : [buckets]);
  }
  // Everything older: the tenant's own matches only.
  if (rows.length < want && upper > 0) await range(0, [tenant]);
  return rows;
}

/**
 * Runs a search for one tenant. Newest first by the messages' time-ordered `rid`, so the
 * full-text index is walked from the newest match down and stops after one page.
 */
export async function searchMessages(
  s: Services,
  tenantId: string,
  input: SearchInput,
  opts: { includeBlocked: boolean; scanWindow?: number },
): Promise<SearchPage> {
  const n = input.limit ?? 20;
  const cur = decodeCursor<{ rid: number }>(input.cursor, { rid: 'number' });
  const plan = input.q ? planQuery(input.q) : undefined;
  if (plan && plan.phrases.length === 0 && plan.singles.length === 0) {
    throw new ApiError('validation_failed', 'q has no letters or digits to search for', {
      param: 'q',
    });
  }
  const { db } = s;
  const sqlite = s.database.kind === 'sqlite';
  // SQLite has no statistics (nothing runs ANALYZE), so for `tenant_id = ? AND
  // conversation_id = ? ORDER BY rid DESC` it cannot tell (tenant_id, rid) from
  // (conversation_id, rid) and may walk the whole tenant. `+` keeps tenant_id off the index.
  const tenantCol =
    sqlite && input.conversation_id !== undefined ? sql`+m.tenant_id` : sql`m.tenant_id`;
  // Every filter but the text match.
  const filtered = messagesFrom(db)
    .where(tenantCol, '=', tenantId)
    .$if(!opts.includeBlocked, (b) => b.where('m.status', '!=', 'blocked_by_blacklist'))
    .$if(input.contact_id !== undefined, (b) => b.where('m.contact_id', '=', input.contact_id!))
    .$if(input.agent_id !== undefined, (b) => b.where('m.agent_id', '=', input.agent_id!))
    .$if(input.kind !== undefined, (b) => b.where('m.kind', '=', input.kind!))
    .$if(input.conversation_id !== undefined, (b) =>
      b.where('m.conversation_id', '=', input.conversation_id!),
    )
    .$if(input.from !== undefined, (b) => b.where('m.created_at', '>=', Date.parse(input.from!)))
    .$if(input.to !== undefined, (b) => b.where('m.created_at', '<', Date.parse(input.to!)))
    .$if(cur !== undefined, (b) => b.where('m.rid', '<', cur!.rid))
    .$if(input.nickname !== undefined, (b) =>
      b.where('m.contact_id', 'in', (eb) =>
        eb
          .selectFrom('contacts')
          .select('id')
          .where('tenant_id', '=', tenantId)
          .where(
            sql<boolean>`lower(nickname) like ${`%${likeEscape(input.nickname!.toLowerCase())}%`} escape '\\'`,
          ),
      ),
    );
  // Single CJK characters: no index finds them inside a longer run, so LIKE.
  const singles = plan?.singles.map(
    (ch) => sql<boolean>`lower(m.text) like ${`%${likeEscape(ch)}%`} escape '\\'`,
  );
  let rows: Array<Omit<MessageRow, 'search_tokens'>>;
  if (plan && plan.phrases.length > 0 && sqlite && (input.conversation_id ?? input.contact_id)) {
    // One conversation's or contact's messages are few: walk them newest first (their index)
    // and test each against the set of matching rowids, which FTS5 reads in one go. Driving
    // from the full-text index instead would look up every match of a common term in turn
    // (~20 µs each: 0.3 s for a term in 2 % of a million messages). `+` keeps SQLite from
    // walking that set instead.
    rows = await filtered
      .select(HIT_COLUMNS)
      .where(
        sql<boolean>`+m.rid in (select rowid from messages_fts where messages_fts match ${toFts5(plan)})`,
      )
      .$if(singles!.length > 0, (b) => b.where((eb) => eb.and(singles!)))
      .orderBy('m.rid', 'desc')
      .limit(n + 1)
      .execute();
  } else if (plan && plan.phrases.length > 0 && sqlite) {
    // Drive the query from the full-text index, newest match first, so a page costs
    // `limit` index steps however many messages match.
    rows = await filtered
      .innerJoin(sql<{ rowid: number }>`messages_fts`.as('f'), (j) =>
        j.on(sql`f.rowid`, '=', sql`m.rid`),
      )
      .select(HIT_COLUMNS)
      .where(sql<boolean>`f.tokens match ${toFts5(plan)}`)
      .$if(singles!.length > 0, (b) => b.where((eb) => eb.and(singles!)))
      .orderBy(sql`f.rowid`, 'desc')
      .limit(n + 1)
      .execute();
  } else if (plan && plan.phrases.length > 0 && (input.conversation_id ?? input.contact_id)) {
    // PostgreSQL, one conversation's or contact's messages: walk the newest `window` of them
    // (their own index) and test each. If that fills no page and the window was full (checked
    // in the same statement, which skips the rest otherwise), the GIN index, restricted to the
    // tenant, collects the remaining matches (materialized, so the planner cannot turn it back
    // into a walk) and the newest page of them is read.
    const window = opts.scanWindow ?? PG_SCAN_WINDOW;
    const tsquery = toTsquery(plan);
    const walkMatch = sql<boolean>`(${sql.join(
      [sql`m.search_vector @@ to_tsquery('simple', ${tsquery})`, ...singles!],
      sql` and `,
    )})`;
    const newest = filtered
      .select([...HIT_COLUMNS, sql<unknown>`m.search_vector`.as('search_vector')])
      .orderBy('m.rid', 'desc')
      .limit(window);
    rows = await db
      .selectFrom(newest.as('m'))
      .select(HIT_COLUMNS)
      .where(walkMatch)
      .orderBy('m.rid', 'desc')
      .limit(n + 1)
      .execute();
    if (rows.length <= n) {
      const windowFull = sql<boolean>`(select count(*) from (${filtered
        .select(sql`1`.as('one'))
        .orderBy('m.rid', 'desc')
        .limit(window)}) as w) = ${window}`;
      const all = await db
        .with(
          (w) => w('hits').materialized(),
          () =>
            filtered
              .where(windowFull)
              .where(docMatch(tsquery, [tenantLexeme(tenantId)], singles!))
              .select('m.rid'),
        )
        .selectFrom('messages as m')
        .select(HIT_COLUMNS)
        .where('m.rid', 'in', (eb) =>
          eb
            .selectFrom('hits')
            .select('hits.rid')
            .orderBy('hits.rid', 'desc')
            .limit(n + 1),
        )
        .orderBy('m.rid', 'desc')
        .execute();
      // Empty when the window was short (then the walk saw everything) or nothing matches.
      if (all.length > 0) rows = all;
    }
  } else if (plan && plan.phrases.length > 0) {
    // PostgreSQL, the whole tenant: the GIN index over the search lexemes plus rid buckets
    // (migration 0005) finds the matches among the newest few thousand messages, then among
    // the newest tens of thousands, then hundreds of thousands, then all: the heap is read only
    // for matches of the range searched, and a frequent term stops after the first range.
    rows = await searchByBuckets(s, tenantId, filtered, plan, singles!, n + 1, cur?.rid);
  } else {
    rows = await filtered
      .select(HIT_COLUMNS)
      .$if((singles?.length ?? 0) > 0, (b) => b.where((eb) => eb.and(singles!)))
      .orderBy('m.rid', 'desc')
      .limit(n + 1)
      .execute();
  }
  const has_more = rows.length > n;
  const page = rows.slice(0, n);
  const last = page.at(-1);
  return {
    data: page.map((r) => ({
      ...toMessage({ ...r, search_tokens: null }),
      snippet: plan ? snippet(r.text, plan.terms) : null,
    })),
    has_more,
    next_cursor: has_more && last ? encodeCursor({ rid: Number(last.rid) }) : null,
  };
}

export const searchRoutes = newRouter().openapi(searchRoute, async (c) => {
  const s = c.var.services;
  const q = c.req.valid('query');
  const includeBlocked = canSeeBlocked(c.var.principal);
  const cache = cacheFor(s);
  const key = JSON.stringify([includeBlocked, q]);
  const now = s.now();
  const hit = cache.get(c.var.tenantId, key, now);
  if (hit) {
    c.header('X-Cache', 'hit');
    return c.json(hit, 200);
  }
  const page = await searchMessages(s, c.var.tenantId, q, { includeBlocked });
  cache.set(c.var.tenantId, key, page, now);
  c.header('X-Cache', 'miss');
  return c.json(page, 200);
});

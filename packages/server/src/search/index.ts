import { ListQuery, MessageSearchHit, MessageSearchQuery, Page } from '@astrdesk/protocol';
import { sql } from 'kysely';
import { canSeeBlocked } from '../conversations/index.js';
import { toMessage } from '../conversations/service.js';
import { ApiError } from '../infra/http/errors.js';
import { decodeCursor, encodeCursor } from '../infra/http/pagination.js';
import { defineRoute, json } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import type { Services } from '../infra/services.js';
import { SearchCache } from './cache.js';
import { planQuery, snippet, toFts5, toTsquery } from './tokenize.js';

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

/**
 * Runs a search for one tenant. Newest first by the messages' time-ordered `rid`, so the
 * full-text index is walked from the newest match down and stops after one page.
 */
export async function searchMessages(
  s: Services,
  tenantId: string,
  input: SearchInput,
  opts: { includeBlocked: boolean },
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
  let qb = db
    .selectFrom('messages as m')
    .selectAll('m')
    .where('m.tenant_id', '=', tenantId)
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
  let order = sql`m.rid`;
  if (plan) {
    for (const ch of plan.singles)
      qb = qb.where(sql<boolean>`lower(m.text) like ${`%${likeEscape(ch)}%`} escape '\\'`);
    if (plan.phrases.length > 0) {
      if (s.database.kind === 'sqlite') {
        // Drive the query from the full-text index, newest match first, so a page costs
        // `limit` index steps however many messages match.
        qb = qb
          .innerJoin(sql<{ rowid: number }>`messages_fts`.as('f'), (j) =>
            j.on(sql`f.rowid`, '=', sql`m.rid`),
          )
          .where(sql<boolean>`f.tokens match ${toFts5(plan)}`);
        order = sql`f.rowid`;
      } else {
        qb = qb.where(sql<boolean>`m.search_vector @@ to_tsquery('simple', ${toTsquery(plan)})`);
      }
    }
  }
  const rows = await qb
    .orderBy(order, 'desc')
    .limit(n + 1)
    .execute();
  const has_more = rows.length > n;
  const page = rows.slice(0, n);
  const last = page.at(-1);
  return {
    data: page.map((r) => ({
      ...toMessage(r),
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

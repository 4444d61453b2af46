import {
  BatchCreateBlacklistRequest,
  BatchCreateBlacklistResult,
  BatchDeleteBlacklistRequest,
  BatchDeleteBlacklistResult,
  BlacklistAuditEntry,
  BlacklistCheck,
  BlacklistCheckQuery,
  BlacklistEntry,
  BlacklistListQuery,
  BlacklistStats,
  BlacklistStatsQuery,
  CreateBlacklistEntryRequest,
  Deleted,
  ListQuery,
  Page,
  type Platform,
  UpdateBlacklistEntryRequest,
} from '@astrdesk/protocol';
import { z } from '@hono/zod-openapi';
import { actorOf } from '../conversations/index.js';
import { containsText, iso, type Tx } from '../infra/db/index.js';
import { ApiError, notFound } from '../infra/http/errors.js';
import { decodeCursor, encodeCursor, paginateById } from '../infra/http/pagination.js';
import { defineRoute, IdParam, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import { BlacklistWriter, type EntryRow, newEntryRow, toEntry } from './service.js';

export * from './service.js';

const tags = ['Blacklist'];

const createRoute = defineRoute(
  { scope: 'blacklist:write' },
  {
    method: 'post',
    path: '/v1/blacklist',
    tags,
    summary: 'Block a user',
    description:
      "Adds `(platform, platform_user_id)` to the tenant's blacklist; every connected sidecar blocks them within moments. The operator is recorded from the credential. An existing pair answers 409 `already_exists` (use PATCH, or the batch route, which updates).",
    request: { body: jsonBody(CreateBlacklistEntryRequest) },
    responses: {
      201: json(BlacklistEntry, 'The entry'),
      409: json(z.any(), 'Already blacklisted'),
    },
  },
);
const batchRoute = defineRoute(
  { scope: 'blacklist:write' },
  {
    method: 'post',
    path: '/v1/blacklist/batch',
    tags,
    summary: 'Block up to 1,000 users in one transaction',
    description:
      'Each item is reported as `created`, `updated` (the pair existed: reason/expiry replaced) or `invalid` (with the reason; a pair repeated inside the batch is invalid after its first occurrence). Valid items are written together; more than 1,000 items answer 400 with nothing written.',
    request: { body: jsonBody(BatchCreateBlacklistRequest) },
    responses: { 200: json(BatchCreateBlacklistResult, 'Per-item results') },
  },
);
const batchDeleteRoute = defineRoute(
  { scope: 'blacklist:write' },
  {
    method: 'post',
    path: '/v1/blacklist/batch-delete',
    tags,
    summary: 'Unblock users by ids or by (platform, platform_user_id) pairs',
    request: { body: jsonBody(BatchDeleteBlacklistRequest) },
    responses: { 200: json(BatchDeleteBlacklistResult, 'What was removed') },
  },
);
const listRoute = defineRoute(
  { scope: 'blacklist:read' },
  {
    method: 'get',
    path: '/v1/blacklist',
    tags,
    summary: 'List and search the blacklist, newest first',
    request: { query: ListQuery.extend(BlacklistListQuery.shape) },
    responses: { 200: json(Page(BlacklistEntry), 'A page of entries') },
  },
);
const checkRoute = defineRoute(
  { scope: 'blacklist:read' },
  {
    method: 'get',
    path: '/v1/blacklist/check',
    tags,
    summary: 'Is this user blocked right now?',
    request: { query: BlacklistCheckQuery },
    responses: { 200: json(BlacklistCheck, 'The answer and the entry') },
  },
);
const auditRoute = defineRoute(
  { scope: 'blacklist:read' },
  {
    method: 'get',
    path: '/v1/blacklist/audit',
    tags,
    summary: 'Every add, update and remove: who, when, before and after',
    request: {
      query: ListQuery.extend({
        entry_id: z.string().max(64).optional(),
        platform_user_id: z.string().max(200).optional(),
      }),
    },
    responses: { 200: json(Page(BlacklistAuditEntry), 'A page of audit entries, newest first') },
  },
);
const statsRoute = defineRoute(
  { scope: 'blacklist:read' },
  {
    method: 'get',
    path: '/v1/blacklist/stats',
    tags,
    summary: 'Blocks per user and per day',
    description: 'Counted from the blocked messages sidecars reported (`message.blocked`).',
    request: { query: BlacklistStatsQuery },
    responses: { 200: json(BlacklistStats, 'Counts') },
  },
);
const getRoute = defineRoute(
  { scope: 'blacklist:read' },
  {
    method: 'get',
    path: '/v1/blacklist/{id}',
    tags,
    summary: 'A blacklist entry',
    request: { params: IdParam },
    responses: { 200: json(BlacklistEntry, 'The entry') },
  },
);
const updateRoute = defineRoute(
  { scope: 'blacklist:write' },
  {
    method: 'patch',
    path: '/v1/blacklist/{id}',
    tags,
    summary: 'Change the reason or expiry of an entry',
    request: { params: IdParam, body: jsonBody(UpdateBlacklistEntryRequest) },
    responses: { 200: json(BlacklistEntry, 'The entry') },
  },
);
const deleteRoute = defineRoute(
  { scope: 'blacklist:write' },
  {
    method: 'delete',
    path: '/v1/blacklist/{id}',
    tags,
    summary: 'Unblock a user',
    request: { params: IdParam },
    responses: { 200: json(Deleted, 'Deleted') },
  },
);

/**
 * Entries of this tenant for the given (platform, user) pairs. One lookup per pair through
 * the unique (tenant, platform, user) index: an OR of many pairs lets SQLite's planner, with no
 * statistics, pick the (tenant, id) index and scan the whole blacklist for every chunk.
 */
async function findByPairs(
  tx: Tx,
  tenantId: string,
  pairs: ReadonlyArray<{ platform: string; platform_user_id: string }>,
): Promise<EntryRow[]> {
  const out: EntryRow[] = [];
  for (const p of pairs) {
    const row = await tx
      .selectFrom('blacklist_entries')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('platform', '=', p.platform)
      .where('platform_user_id', '=', p.platform_user_id)
      .executeTakeFirst();
    if (row) out.push(row);
  }
  return out;
}

function futureOrThrow(
  value: string | null | undefined,
  now: number,
  param: string,
): number | null | undefined {
  if (value === undefined || value === null) return value;
  const ms = Date.parse(value);
  if (ms <= now)
    throw new ApiError('validation_failed', `${param} must be in the future`, { param });
  return ms;
}

export const blacklistRoutes = newRouter()
  .openapi(createRoute, async (c) => {
    const s = c.var.services;
    const body = c.req.valid('json');
    const now = s.now();
    const expires = futureOrThrow(body.expires_at, now, 'expires_at');
    const actor = actorOf(c.var.principal).label;
    const tenantId = c.var.tenantId;
    const entry = await s.events.transact(tenantId, async (tx, emit) => {
      const existing = await tx
        .selectFrom('blacklist_entries')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('platform', '=', body.platform)
        .where('platform_user_id', '=', body.platform_user_id)
        .executeTakeFirst();
      if (existing) {
        throw new ApiError('already_exists', 'This user is already blacklisted on this platform', {
          param: 'platform_user_id',
          details: { entry_id: existing.id },
        });
      }
      const w = new BlacklistWriter(tx, tenantId, actor, now);
      const row = newEntryRow(tenantId, { ...body, expires_at: expires }, actor, now);
      await w.upsert(undefined, row);
      await w.finish(emit);
      return row;
    });
    c.var.log.info(
      { event: 'blacklist.add', entry_id: entry.id, platform: entry.platform },
      'user blacklisted',
    );
    return c.json(toEntry(entry, now), 201);
  })
  .openapi(batchRoute, async (c) => {
    const s = c.var.services;
    const { entries } = c.req.valid('json');
    const now = s.now();
    const actor = actorOf(c.var.principal).label;
    const tenantId = c.var.tenantId;
    type Result = z.infer<typeof BatchCreateBlacklistResult>['results'][number];
    const results: Result[] = new Array(entries.length);
    const valid: Array<{
      index: number;
      platform: string;
      platform_user_id: string;
      reason?: string | undefined;
      expires_at: number | null | undefined;
    }> = [];
    const seen = new Map<string, number>();
    entries.forEach((raw, index) => {
      const r = CreateBlacklistEntryRequest.safeParse(raw);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        results[index] = {
          index,
          status: 'invalid',
          error: {
            code: 'validation_failed',
            message: issue.message,
            param: issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('.'),
          },
        };
        return;
      }
      const key = `${r.data.platform}\0${r.data.platform_user_id}`;
      const first = seen.get(key);
      if (first !== undefined) {
        results[index] = {
          index,
          status: 'invalid',
          error: {
            code: 'duplicate_in_batch',
            message: `Same platform and user as item ${first}`,
            param: 'platform_user_id',
          },
        };
        return;
      }
      if (r.data.expires_at !== undefined && Date.parse(r.data.expires_at) <= now) {
        results[index] = {
          index,
          status: 'invalid',
          error: {
            code: 'validation_failed',
            message: 'expires_at must be in the future',
            param: 'expires_at',
          },
        };
        return;
      }
      seen.set(key, index);
      valid.push({
        index,
        platform: r.data.platform,
        platform_user_id: r.data.platform_user_id,
        reason: r.data.reason,
        expires_at: r.data.expires_at ? Date.parse(r.data.expires_at) : null,
      });
    });
    const revision = await s.events.transact(tenantId, async (tx, emit) => {
      const w = new BlacklistWriter(tx, tenantId, actor, now);
      const existing = new Map<string, EntryRow>();
      for (const r of await findByPairs(tx, tenantId, valid))
        existing.set(`${r.platform}\0${r.platform_user_id}`, r);
      for (const v of valid) {
        const before = existing.get(`${v.platform}\0${v.platform_user_id}`);
        const after = before
          ? {
              ...before,
              reason: v.reason ?? before.reason,
              expires_at: v.expires_at ?? null,
              operator: actor,
              updated_at: now,
            }
          : newEntryRow(tenantId, v, actor, now);
        await w.upsert(before, after);
        results[v.index] = {
          index: v.index,
          status: before ? 'updated' : 'created',
          entry: toEntry(after, now),
        };
      }
      return w.finish(emit);
    });
    const count = (st: string) => results.filter((r) => r.status === st).length;
    c.var.log.info(
      {
        event: 'blacklist.batch',
        created: count('created'),
        updated: count('updated'),
        invalid: count('invalid'),
      },
      'blacklist batch',
    );
    return c.json(
      {
        object: 'blacklist_batch_result' as const,
        created: count('created'),
        updated: count('updated'),
        invalid: count('invalid'),
        revision,
        results,
      },
      200,
    );
  })
  .openapi(batchDeleteRoute, async (c) => {
    const s = c.var.services;
    const body = c.req.valid('json');
    const now = s.now();
    const actor = actorOf(c.var.principal).label;
    const tenantId = c.var.tenantId;
    const requested = (body.ids?.length ?? 0) + (body.pairs?.length ?? 0);
    const out = await s.events.transact(tenantId, async (tx, emit) => {
      const w = new BlacklistWriter(tx, tenantId, actor, now);
      const rows = new Map<string, EntryRow>();
      for (let i = 0; i < (body.ids ?? []).length; i += 400) {
        const found = await tx
          .selectFrom('blacklist_entries')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('id', 'in', body.ids!.slice(i, i + 400))
          .execute();
        for (const r of found) rows.set(r.id, r);
      }
      for (const r of await findByPairs(tx, tenantId, body.pairs ?? [])) rows.set(r.id, r);
      for (const r of rows.values()) await w.remove(r);
      return { revision: await w.finish(emit), deleted_ids: [...rows.keys()] };
    });
    return c.json(
      {
        object: 'blacklist_batch_delete_result' as const,
        deleted: out.deleted_ids.length,
        not_found: requested - out.deleted_ids.length,
        revision: out.revision,
        deleted_ids: out.deleted_ids,
      },
      200,
    );
  })
  .openapi(listRoute, async (c) => {
    const { db, now } = c.var.services;
    const q = c.req.valid('query');
    const t = now();
    const page = await paginateById(
      db
        .selectFrom('blacklist_entries')
        .selectAll()
        .where('tenant_id', '=', c.var.tenantId)
        .$if(q.platform !== undefined, (b) => b.where('platform', '=', q.platform!))
        .$if(q.operator !== undefined, (b) => b.where('operator', '=', q.operator!))
        .$if(q.status === 'active', (b) =>
          b.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', t)])),
        )
        .$if(q.status === 'expired', (b) => b.where('expires_at', '<=', t))
        .$if(q.q !== undefined, (b) =>
          b.where((eb) =>
            eb.or([containsText('platform_user_id', q.q!), containsText('reason', q.q!)]),
          ),
        ),
      q,
      (r) => toEntry(r, t),
    );
    return c.json(page, 200);
  })
  .openapi(checkRoute, async (c) => {
    const { db, now } = c.var.services;
    const q = c.req.valid('query');
    const row = await db
      .selectFrom('blacklist_entries')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('platform', '=', q.platform)
      .where('platform_user_id', '=', q.user_id)
      .executeTakeFirst();
    const t = now();
    const entry = row ? toEntry(row, t) : null;
    return c.json({ blocked: entry?.active ?? false, entry }, 200);
  })
  .openapi(auditRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const n = q.limit ?? 20;
    const cur = decodeCursor<{ id: number }>(q.cursor, { id: 'number' });
    const rows = await db
      .selectFrom('blacklist_audit')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .$if(q.entry_id !== undefined, (b) => b.where('entry_id', '=', q.entry_id!))
      .$if(q.platform_user_id !== undefined, (b) =>
        b.where('platform_user_id', '=', q.platform_user_id!),
      )
      .$if(cur !== undefined, (b) => b.where('id', '<', cur!.id))
      .orderBy('id', 'desc')
      .limit(n + 1)
      .execute();
    const has_more = rows.length > n;
    const page = rows.slice(0, n);
    return c.json(
      {
        data: page.map((r) => ({
          id: `bla_${r.id}`,
          action: r.action as 'add' | 'update' | 'remove',
          entry_id: r.entry_id,
          platform: r.platform as Platform,
          platform_user_id: r.platform_user_id,
          before: r.before ? (JSON.parse(r.before) as z.infer<typeof BlacklistEntry>) : null,
          after: r.after ? (JSON.parse(r.after) as z.infer<typeof BlacklistEntry>) : null,
          actor: r.actor,
          revision: Number(r.revision),
          created_at: iso(r.created_at),
        })),
        has_more,
        next_cursor: has_more ? encodeCursor({ id: Number(page.at(-1)!.id) }) : null,
      },
      200,
    );
  })
  .openapi(statsRoute, async (c) => {
    const { db, now } = c.var.services;
    const q = c.req.valid('query');
    const t = now();
    const to = q.to ? Date.parse(q.to) : t + 1;
    const from = q.from ? Date.parse(q.from) : to - 30 * 86_400_000;
    const tenantId = c.var.tenantId;
    const blocked = () =>
      db
        .selectFrom('messages as m')
        .innerJoin('contacts as ct', 'ct.id', 'm.contact_id')
        .where('m.tenant_id', '=', tenantId)
        .where('m.status', '=', 'blocked_by_blacklist')
        .where('m.created_at', '>=', from)
        .where('m.created_at', '<', to);
    const [perUser, times, counts] = await Promise.all([
      blocked()
        .select([
          'ct.platform',
          'ct.platform_user_id',
          (eb) => eb.fn.countAll<number>().as('count'),
          (eb) => eb.fn.max('m.created_at').as('last'),
        ])
        .groupBy(['ct.platform', 'ct.platform_user_id'])
        .orderBy('count', 'desc')
        .orderBy('last', 'desc')
        .limit(q.limit)
        .execute(),
      blocked().select('m.created_at').execute(),
      db
        .selectFrom('blacklist_entries')
        .select([
          (eb) => eb.fn.countAll<number>().as('total'),
          (eb) =>
            eb.fn
              .sum<number>(eb.case().when('expires_at', '<=', t).then(1).else(0).end())
              .as('expired'),
        ])
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow(),
    ]);
    const reasons = await Promise.all(
      perUser.map((u) =>
        db
          .selectFrom('blacklist_entries')
          .select('reason')
          .where('tenant_id', '=', tenantId)
          .where('platform', '=', u.platform)
          .where('platform_user_id', '=', u.platform_user_id)
          .executeTakeFirst(),
      ),
    );
    const perDay = new Map<string, number>();
    for (const r of times) {
      const d = new Date(Number(r.created_at)).toISOString().slice(0, 10);
      perDay.set(d, (perDay.get(d) ?? 0) + 1);
    }
    const expired = Number(counts.expired ?? 0);
    return c.json(
      {
        object: 'blacklist_stats' as const,
        entries: { active: Number(counts.total) - expired, expired },
        per_user: perUser.map((u, i) => ({
          platform: u.platform as Platform,
          platform_user_id: u.platform_user_id,
          count: Number(u.count),
          last_blocked_at: iso(Number(u.last)),
          last_reason: reasons[i]?.reason ?? null,
        })),
        per_day: [...perDay]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([date, count]) => ({ date, count })),
      },
      200,
    );
  })
  .openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const row = await c.var.services.db
      .selectFrom('blacklist_entries')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('blacklist entry');
    return c.json(toEntry(row, c.var.services.now()), 200);
  })
  .openapi(updateRoute, async (c) => {
    const s = c.var.services;
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const now = s.now();
    const expires = futureOrThrow(body.expires_at, now, 'expires_at');
    const actor = actorOf(c.var.principal).label;
    const tenantId = c.var.tenantId;
    const after = await s.events.transact(tenantId, async (tx, emit) => {
      const before = await tx
        .selectFrom('blacklist_entries')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!before) throw notFound('blacklist entry');
      const next = {
        ...before,
        ...(body.reason !== undefined ? { reason: body.reason } : {}),
        ...(expires !== undefined ? { expires_at: expires } : {}),
        updated_at: now,
      };
      const w = new BlacklistWriter(tx, tenantId, actor, now);
      await w.upsert(before, next);
      await w.finish(emit);
      return next;
    });
    return c.json(toEntry(after, now), 200);
  })
  .openapi(deleteRoute, async (c) => {
    const s = c.var.services;
    const { id } = c.req.valid('param');
    const now = s.now();
    const actor = actorOf(c.var.principal).label;
    const tenantId = c.var.tenantId;
    await s.events.transact(tenantId, async (tx, emit) => {
      const before = await tx
        .selectFrom('blacklist_entries')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!before) throw notFound('blacklist entry');
      const w = new BlacklistWriter(tx, tenantId, actor, now);
      await w.remove(before);
      await w.finish(emit);
    });
    return c.json({ id, deleted: true as const }, 200);
  });

import {
  AssignRequest,
  CloseRequest,
  Conversation,
  type ConversationAction,
  ConversationListQuery,
  ConversationSettings,
  ConversationTransition,
  CreateMessageRequest,
  Delivery,
  ListQuery,
  Message,
  MessageListQuery,
  Page,
  Presence,
  RatingRequest,
  SetPresenceRequest,
  TransferRequest,
  UpdateConversationSettings,
} from '@astrdesk/protocol';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { newId } from '../infra/crypto/index.js';
import { iso } from '../infra/db/index.js';
import type { AppEnv, Principal } from '../infra/http/context.js';
import { ApiError } from '../infra/http/errors.js';
import { decodeCursor, encodeCursor } from '../infra/http/pagination.js';
import { defineRoute, IdParam, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import {
  type Actor,
  applyTransition,
  getSettings,
  insertMessage,
  loadConversation,
  PRESENCE_STALE_MS,
  type TransitionInput,
  toConversation,
  toMessage,
  updateSettings,
} from './service.js';

export { runConversationJobs, startConversationJobs } from './jobs.js';
export * from './service.js';

export function actorOf(p: Principal): Actor {
  if (p.kind === 'member')
    return { label: `member:${p.id}`, memberId: p.id, privileged: p.role !== 'agent' };
  return { label: `${p.kind}:${p.id}`, memberId: null, privileged: true };
}

/** Blocked messages are for owners, admins and API keys that may read the blacklist. */
export function canSeeBlocked(p: Principal): boolean {
  if (p.kind === 'member') return p.role !== 'agent';
  return p.scopes.includes('blacklist:read');
}

// --- list and read ---------------------------------------------------------------------------

const listRoute = defineRoute(
  { scope: 'conversations:read' },
  {
    method: 'get',
    path: '/v1/conversations',
    tags: ['Conversations'],
    summary: 'List conversations, most recent activity first',
    request: { query: ListQuery.extend(ConversationListQuery.shape) },
    responses: { 200: json(Page(Conversation), 'A page of conversations') },
  },
);

const getRoute = defineRoute(
  { scope: 'conversations:read' },
  {
    method: 'get',
    path: '/v1/conversations/{id}',
    tags: ['Conversations'],
    summary: 'A conversation',
    request: { params: IdParam },
    responses: { 200: json(Conversation, 'The conversation') },
  },
);

const transitionsRoute = defineRoute(
  { scope: 'conversations:read' },
  {
    method: 'get',
    path: '/v1/conversations/{id}/transitions',
    tags: ['Conversations'],
    summary: 'Every state change of a conversation, oldest first',
    request: { params: IdParam },
    responses: { 200: json(z.object({ data: z.array(ConversationTransition) }), 'Transitions') },
  },
);

const readRoute = defineRoute(
  { scope: 'conversations:write' },
  {
    method: 'post',
    path: '/v1/conversations/{id}/read',
    tags: ['Conversations'],
    summary: "Mark the user's messages read (unread_count → 0)",
    request: { params: IdParam },
    responses: { 200: json(Conversation, 'The conversation') },
  },
);

// --- lifecycle actions -------------------------------------------------------------------------

const actionBodies = {
  accept: undefined,
  assign: AssignRequest,
  transfer: TransferRequest,
  decline: undefined,
  release: undefined,
  close: CloseRequest,
  reopen: undefined,
} as const;

const actionDocs: Record<ConversationAction, string> = {
  accept:
    'Take a waiting conversation, or accept a transfer addressed to you. waiting|transferring → active.',
  assign: 'Give the conversation to an agent. waiting → active; on an active one, a reassignment.',
  transfer:
    'Hand over to another agent, who accepts or declines (or it times out). active → transferring.',
  decline: 'Refuse a transfer; it returns to the previous agent. transferring → active.',
  release: 'Put it back in the queue. active → waiting.',
  close: 'End the conversation. waiting|active|transferring → closed.',
  reopen: 'Reopen a closed conversation into the queue. closed → waiting.',
};

function actionRoute(action: ConversationAction) {
  const schema = actionBodies[action];
  return defineRoute(
    { scope: 'conversations:write' },
    {
      method: 'post',
      path: `/v1/conversations/{id}/${action}`,
      tags: ['Conversations'],
      summary: `${action[0]!.toUpperCase()}${action.slice(1)} a conversation`,
      description: `${actionDocs[action]} Any other state answers 409 \`invalid_state_transition\` with \`details.current_state\`.`,
      request: {
        params: IdParam,
        ...(schema ? { body: jsonBody(schema) } : {}),
      },
      responses: {
        200: json(Conversation, 'The conversation after the action'),
        409: json(z.any(), 'Not allowed in the current state'),
      },
    },
  );
}

const ratingRoute = defineRoute(
  { scope: 'conversations:write' },
  {
    method: 'post',
    path: '/v1/conversations/{id}/rating',
    tags: ['Conversations'],
    summary: "Record the customer's satisfaction score (CSAT, 1–5)",
    request: { params: IdParam, body: jsonBody(RatingRequest) },
    responses: { 200: json(Conversation, 'The conversation') },
  },
);

// --- messages ----------------------------------------------------------------------------------

const MessagePage = Page(Message).extend({
  older_cursor: z.string().nullable(),
  newer_cursor: z.string().nullable(),
});

const listMessagesRoute = defineRoute(
  { scope: 'messages:read' },
  {
    method: 'get',
    path: '/v1/conversations/{id}/messages',
    tags: ['Messages'],
    summary: 'Messages of a conversation',
    description:
      '`direction=older` (default) pages back from the newest; `direction=newer` pages forward from the oldest (or from `cursor`); `around=msg_id` returns the page centred on that message, oldest first. Blocked messages are shown to owners and admins only.',
    request: { params: IdParam, query: ListQuery.extend(MessageListQuery.shape) },
    responses: { 200: json(MessagePage, 'A page of messages') },
  },
);

const createMessageRoute = defineRoute(
  { scope: 'messages:write' },
  {
    method: 'post',
    path: '/v1/conversations/{id}/messages',
    tags: ['Messages'],
    summary: 'Reply to the user, or add an internal note',
    description:
      "A reply is stored and queued as a delivery to the conversation's AstrBot instance. A closed conversation answers 409 `conversation_closed`: reopen it first. Text longer than the tenant's `max_text_bytes` (default 16 KB, UTF-8) answers 400 `text_too_long`.",
    request: { params: IdParam, body: jsonBody(CreateMessageRequest) },
    responses: {
      201: json(
        z.object({ message: Message, delivery: Delivery.nullable() }),
        'The message (and its delivery)',
      ),
      409: json(z.any(), 'The conversation is closed'),
    },
  },
);

// --- settings and presence -------------------------------------------------------------------

const getSettingsRoute = defineRoute(
  { scope: 'tenant:read' },
  {
    method: 'get',
    path: '/v1/tenant/settings/conversations',
    tags: ['Conversations'],
    summary: 'Routing, auto-close and limits for conversations',
    responses: { 200: json(ConversationSettings, 'The settings') },
  },
);
const patchSettingsRoute = defineRoute(
  { scope: 'tenant:write' },
  {
    method: 'patch',
    path: '/v1/tenant/settings/conversations',
    tags: ['Conversations'],
    summary: 'Change conversation settings',
    request: { body: jsonBody(UpdateConversationSettings) },
    responses: { 200: json(ConversationSettings, 'The settings now in force') },
  },
);
const listPresenceRoute = defineRoute(
  { scope: 'members:read' },
  {
    method: 'get',
    path: '/v1/presence',
    tags: ['Presence'],
    summary: 'Who is online, and their load',
    responses: { 200: json(z.object({ data: z.array(Presence) }), 'Presence of every member') },
  },
);
const setPresenceRoute = defineRoute(
  { scope: 'conversations:read', sessionOnly: true },
  {
    method: 'put',
    path: '/v1/presence',
    tags: ['Presence'],
    summary: 'Set your own status (online, away, offline)',
    description:
      'Effective status is this while you have a realtime connection open, and offline otherwise.',
    request: { body: jsonBody(SetPresenceRequest) },
    responses: { 200: json(Presence, 'Your presence') },
  },
);

async function runAction(c: Context<AppEnv>, id: string, input: TransitionInput) {
  const s = c.var.services;
  const tenantId = c.var.tenantId;
  const actor = actorOf(c.var.principal);
  const next = await s.events.transact(tenantId, async (tx, emit) => {
    const conv = await loadConversation(tx, tenantId, id);
    return applyTransition(
      tx,
      emit,
      { tenantId, dbKind: s.database.kind, now: s.now() },
      conv,
      actor,
      input,
    );
  });
  c.var.log.info(
    { event: `conversation.${input.action}`, conversation_id: id, to: next.state },
    'conversation transition',
  );
  return toConversation(next);
}

let router = newRouter()
  .openapi(listRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const n = q.limit ?? 20;
    const cur = decodeCursor<{ t: number; id: string }>(q.cursor, { t: 'number', id: 'string' });
    const rows = await db
      .selectFrom('conversations')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .$if(q.state !== undefined, (qb) => qb.where('state', '=', q.state!))
      .$if(q.agent_id !== undefined, (qb) => qb.where('assigned_agent_id', '=', q.agent_id!))
      .$if(q.platform !== undefined, (qb) => qb.where('platform', '=', q.platform!))
      .$if(q.contact_id !== undefined, (qb) => qb.where('contact_id', '=', q.contact_id!))
      .$if(q.from !== undefined, (qb) => qb.where('last_activity_at', '>=', Date.parse(q.from!)))
      .$if(q.to !== undefined, (qb) => qb.where('last_activity_at', '<', Date.parse(q.to!)))
      .$if(q.unread === 'true', (qb) => qb.where('unread_count', '>', 0))
      .$if(q.unread === 'false', (qb) => qb.where('unread_count', '=', 0))
      .$if(cur !== undefined, (qb) =>
        qb.where((eb) =>
          eb.or([
            eb('last_activity_at', '<', cur!.t),
            eb.and([eb('last_activity_at', '=', cur!.t), eb('id', '<', cur!.id)]),
          ]),
        ),
      )
      .orderBy('last_activity_at', 'desc')
      .orderBy('id', 'desc')
      .limit(n + 1)
      .execute();
    const has_more = rows.length > n;
    const page = rows.slice(0, n);
    const last = page.at(-1);
    return c.json(
      {
        data: page.map(toConversation),
        has_more,
        next_cursor:
          has_more && last ? encodeCursor({ t: last.last_activity_at, id: last.id }) : null,
      },
      200,
    );
  })
  .openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(
      toConversation(await loadConversation(c.var.services.db, c.var.tenantId, id)),
      200,
    );
  })
  .openapi(transitionsRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { db } = c.var.services;
    await loadConversation(db, c.var.tenantId, id);
    const rows = await db
      .selectFrom('conversation_transitions')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('conversation_id', '=', id)
      .orderBy('id', 'asc')
      .limit(1000)
      .execute();
    return c.json(
      {
        data: rows.map((r) => ({
          from_state: r.from_state as Conversation['state'] | null,
          to_state: r.to_state as Conversation['state'],
          action: r.action,
          actor: r.actor,
          reason: r.reason,
          created_at: iso(r.created_at),
        })),
      },
      200,
    );
  })
  .openapi(readRoute, async (c) => {
    const { id } = c.req.valid('param');
    const s = c.var.services;
    const tenantId = c.var.tenantId;
    const conv = await s.events.transact(tenantId, async (tx, emit) => {
      const row = await loadConversation(tx, tenantId, id);
      if (row.unread_count === 0) return row;
      const next = { ...row, unread_count: 0, updated_at: s.now() };
      await tx
        .updateTable('conversations')
        .set({ unread_count: 0, updated_at: next.updated_at })
        .where('id', '=', id)
        .execute();
      await emit('conversation.updated', { conversation: toConversation(next) });
      return next;
    });
    return c.json(toConversation(conv), 200);
  })
  .openapi(ratingRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const s = c.var.services;
    const tenantId = c.var.tenantId;
    const conv = await s.events.transact(tenantId, async (tx, emit) => {
      const row = await loadConversation(tx, tenantId, id);
      const next = {
        ...row,
        rating_score: body.score,
        rating_comment: body.comment ?? null,
        rated_at: s.now(),
        updated_at: s.now(),
      };
      await tx
        .updateTable('conversations')
        .set({
          rating_score: next.rating_score,
          rating_comment: next.rating_comment,
          rated_at: next.rated_at,
          updated_at: next.updated_at,
        })
        .where('id', '=', id)
        .execute();
      await emit('conversation.rated', { conversation: toConversation(next) });
      return next;
    });
    return c.json(toConversation(conv), 200);
  })
  .openapi(listMessagesRoute, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const { db } = c.var.services;
    const tenantId = c.var.tenantId;
    await loadConversation(db, tenantId, id);
    const n = q.limit ?? 50;
    const showBlocked = canSeeBlocked(c.var.principal);
    const base = () =>
      db
        .selectFrom('messages')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('conversation_id', '=', id)
        .$if(!showBlocked, (qb) => qb.where('status', '!=', 'blocked_by_blacklist'));
    const cursorOf = (rid: number) => encodeCursor({ rid });
    let data: Awaited<ReturnType<ReturnType<typeof base>['execute']>>;
    let older: string | null = null;
    let newer: string | null = null;
    let hasMore: boolean;
    if (q.around) {
      const pivot = await base().where('id', '=', q.around).executeTakeFirst();
      if (!pivot)
        throw new ApiError('not_found', 'No such message in this conversation', {
          param: 'around',
        });
      // The pivot plus up to `olderCount` before and `newerCount` after it: `limit` in all.
      const olderCount = Math.floor((n - 1) / 2);
      const newerCount = n - 1 - olderCount;
      const before = await base()
        .where('rid', '<', pivot.rid)
        .orderBy('rid', 'desc')
        .limit(olderCount + 1)
        .execute();
      const after = await base()
        .where('rid', '>', pivot.rid)
        .orderBy('rid', 'asc')
        .limit(newerCount + 1)
        .execute();
      const olderMore = before.length > olderCount;
      const newerMore = after.length > newerCount;
      data = [...before.slice(0, olderCount).reverse(), pivot, ...after.slice(0, newerCount)];
      older = olderMore ? cursorOf(data[0]!.rid) : null;
      newer = newerMore ? cursorOf(data.at(-1)!.rid) : null;
      // `next_cursor` of an around page continues towards older messages.
      hasMore = olderMore;
    } else {
      const cur = decodeCursor<{ rid: number }>(q.cursor, { rid: 'number' });
      if (q.direction === 'newer') {
        const rows = await base()
          .$if(cur !== undefined, (qb) => qb.where('rid', '>', cur!.rid))
          .orderBy('rid', 'asc')
          .limit(n + 1)
          .execute();
        hasMore = rows.length > n;
        data = rows.slice(0, n);
        newer = hasMore && data.length ? cursorOf(data.at(-1)!.rid) : null;
        // Having started after a cursor, there are older messages behind the first row.
        older = cur && data.length ? cursorOf(data[0]!.rid) : null;
      } else {
        const rows = await base()
          .$if(cur !== undefined, (qb) => qb.where('rid', '<', cur!.rid))
          .orderBy('rid', 'desc')
          .limit(n + 1)
          .execute();
        hasMore = rows.length > n;
        data = rows.slice(0, n);
        older = hasMore && data.length ? cursorOf(data.at(-1)!.rid) : null;
        newer = cur && data.length ? cursorOf(data[0]!.rid) : null;
      }
    }
    return c.json(
      {
        data: data.map(toMessage),
        has_more: hasMore,
        next_cursor: q.direction === 'newer' && !q.around ? newer : older,
        older_cursor: older,
        newer_cursor: newer,
      },
      200,
    );
  })
  .openapi(createMessageRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const s = c.var.services;
    const tenantId = c.var.tenantId;
    const p = c.var.principal;
    const settings = await getSettings(s.db, tenantId);
    const bytes = Buffer.byteLength(body.text, 'utf8');
    if (bytes > settings.max_text_bytes) {
      throw new ApiError(
        'text_too_long',
        `text is ${bytes} bytes; the limit is ${settings.max_text_bytes}`,
        {
          param: 'text',
          details: { max_text_bytes: settings.max_text_bytes, bytes },
        },
      );
    }
    const result = await s.events.transact(tenantId, async (tx, emit) => {
      const conv = await loadConversation(tx, tenantId, id);
      if (conv.state === 'closed') {
        throw new ApiError(
          'conversation_closed',
          'This conversation is closed; reopen it to reply',
          { details: { current_state: 'closed' } },
        );
      }
      const now = s.now();
      const agentId = p.kind === 'member' ? p.id : null;
      const msg = await insertMessage(tx, s.database.kind, {
        id: newId('message', now),
        tenant_id: tenantId,
        conversation_id: id,
        contact_id: conv.contact_id,
        sender: 'agent',
        agent_id: agentId,
        kind: 'text',
        text: body.text,
        media: null,
        status: body.internal ? 'sent' : 'queued',
        internal: body.internal ? 1 : 0,
        platform_message_id: null,
        created_at: now,
      });
      let delivery = null;
      if (!body.internal) {
        const d = {
          id: newId('delivery', now),
          tenant_id: tenantId,
          message_id: msg.id,
          conversation_id: id,
          instance_id: conv.instance_id,
          status: 'queued',
          attempts: 0,
          last_error: null,
          created_at: now,
          updated_at: now,
        };
        await tx.insertInto('deliveries').values(d).execute();
        delivery = {
          id: d.id,
          message_id: d.message_id,
          instance_id: d.instance_id,
          status: 'queued' as const,
          attempts: 0,
          last_error: null,
          created_at: iso(now),
          updated_at: iso(now),
        };
      }
      const next = {
        ...conv,
        last_activity_at: now,
        updated_at: now,
        message_count: conv.message_count + 1,
        ...(body.internal
          ? {}
          : {
              last_message_preview: body.text.slice(0, 200),
              unread_count: 0,
              first_agent_reply_at: conv.first_agent_reply_at ?? now,
              handled_by: 'agent',
            }),
      };
      await tx
        .updateTable('conversations')
        .set({
          last_activity_at: now,
          updated_at: now,
          message_count: next.message_count,
          last_message_preview: next.last_message_preview,
          unread_count: next.unread_count,
          first_agent_reply_at: next.first_agent_reply_at,
          handled_by: next.handled_by,
        })
        .where('id', '=', id)
        .execute();
      const message = toMessage(msg);
      await emit('message.created', { message, conversation: toConversation(next) });
      if (delivery) await emit('delivery.queued', { delivery });
      return { message, delivery };
    });
    return c.json(result, 201);
  })
  .openapi(getSettingsRoute, async (c) =>
    c.json(await getSettings(c.var.services.db, c.var.tenantId), 200),
  )
  .openapi(patchSettingsRoute, async (c) => {
    const patch = c.req.valid('json');
    const clean = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    return c.json(
      await updateSettings(c.var.services.db, c.var.tenantId, clean, c.var.services.now()),
      200,
    );
  })
  .openapi(listPresenceRoute, async (c) => {
    const s = c.var.services;
    const rows = await presenceRows(c, undefined);
    return c.json({ data: rows.map((r) => toPresence(r, s.now())) }, 200);
  })
  .openapi(setPresenceRoute, async (c) => {
    const s = c.var.services;
    const p = c.var.principal;
    const { status } = c.req.valid('json');
    const now = s.now();
    await s.events.transact(c.var.tenantId, async (tx, emit) => {
      await tx
        .insertInto('agent_presence')
        .values({
          member_id: p.id,
          tenant_id: c.var.tenantId,
          explicit_status: status,
          connections: 0,
          heartbeat_at: null,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.column('member_id').doUpdateSet({ explicit_status: status, updated_at: now }),
        )
        .execute();
      await emit('presence.updated', { member_id: p.id, explicit_status: status });
    });
    const [row] = await presenceRows(c, p.id);
    return c.json(toPresence(row!, now), 200);
  });

async function presenceRows(c: Context<AppEnv>, memberId: string | undefined) {
  const { db } = c.var.services;
  return db
    .selectFrom('members as m')
    .leftJoin('agent_presence as p', 'p.member_id', 'm.id')
    .leftJoin('conversations as c', (j) =>
      j.onRef('c.assigned_agent_id', '=', 'm.id').on('c.state', 'in', ['active', 'transferring']),
    )
    .select([
      'm.id as member_id',
      'p.explicit_status',
      'p.connections',
      'p.heartbeat_at',
      'p.updated_at',
      (eb) => eb.fn.count<number>('c.id').as('active'),
    ])
    .where('m.tenant_id', '=', c.var.tenantId)
    .where('m.disabled', '=', 0)
    .$if(memberId !== undefined, (qb) => qb.where('m.id', '=', memberId!))
    .groupBy(['m.id', 'p.explicit_status', 'p.connections', 'p.heartbeat_at', 'p.updated_at'])
    .orderBy('m.id')
    .execute();
}

function toPresence(
  r: {
    member_id: string;
    explicit_status: string | null;
    connections: number | null;
    heartbeat_at: number | null;
    updated_at: number | null;
    active: number | string;
  },
  now: number,
) {
  const explicit = (r.explicit_status ?? 'offline') as 'online' | 'away' | 'offline';
  const connected = (r.connections ?? 0) > 0 && (r.heartbeat_at ?? 0) > now - PRESENCE_STALE_MS;
  return {
    member_id: r.member_id,
    status: connected ? explicit : ('offline' as const),
    explicit_status: explicit,
    connections: r.connections ?? 0,
    active_conversations: Number(r.active),
    updated_at: iso(r.updated_at),
  };
}

for (const action of Object.keys(actionBodies) as ConversationAction[]) {
  router = router.openapi(actionRoute(action), async (c) => {
    const { id } = c.req.valid('param');
    const body = (actionBodies[action] ? c.req.valid('json' as never) : {}) as {
      agent_id?: string;
      to_agent_id?: string;
      note?: string;
      reason?: string;
    };
    return c.json(
      await runAction(c, id, {
        action,
        agentId: body.agent_id ?? body.to_agent_id,
        note: body.note,
        reason: body.reason,
      }),
      200,
    );
  }) as typeof router;
}

export const conversationRoutes = router;

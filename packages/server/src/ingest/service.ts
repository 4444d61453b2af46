import { type Platform, SIDECAR_EVENT_TYPES, SidecarEvent } from '@astrdesk/protocol';
import { toContact } from '../contacts/index.js';
import {
  applyTransition,
  getSettings,
  insertMessage,
  pickAgent,
  toConversation,
  toMessage,
} from '../conversations/service.js';
import { newId } from '../infra/crypto/index.js';
import type { Tx } from '../infra/db/index.js';
import type { ContactsTable, ConversationsTable } from '../infra/db/schema.js';
import type { Emit } from '../infra/events/index.js';
import { ApiError } from '../infra/http/errors.js';
import type { Services } from '../infra/services.js';

type Ctx = { s: Services; tenantId: string; instanceId: string; now: number; tx: Tx; emit: Emit };

/**
 * Validates every event first: one bad event rejects the whole batch (400 naming its index),
 * before anything is written.
 */
export function parseBatch(events: unknown[]): SidecarEvent[] {
  return events.map((raw, i) => {
    const type = (raw as { type?: unknown } | null)?.type;
    if (!(SIDECAR_EVENT_TYPES as readonly unknown[]).includes(type)) {
      throw new ApiError(
        'validation_failed',
        `events[${i}]: unknown event type ${JSON.stringify(type ?? null)}; known: ${SIDECAR_EVENT_TYPES.join(', ')}`,
        {
          param: `events.${i}.type`,
          details: { index: i },
        },
      );
    }
    const r = SidecarEvent.safeParse(raw);
    if (r.success) return r.data;
    const issue = r.error.issues[0]!;
    throw new ApiError(
      'validation_failed',
      `events[${i}]: ${issue.path.join('.') || 'event'}: ${issue.message}`,
      {
        param: ['events', i, ...issue.path].join('.'),
        details: {
          index: i,
          issues: r.error.issues.map((x) => ({ path: x.path.join('.'), message: x.message })),
        },
      },
    );
  });
}

async function upsertContact(
  ctx: Ctx,
  d: {
    platform: Platform;
    platform_user_id: string;
    nickname?: string | undefined;
    avatar_url?: string | undefined;
    sent_at: string;
  },
) {
  const { tx, tenantId, now, emit } = ctx;
  const seen = Date.parse(d.sent_at);
  const existing = await tx
    .selectFrom('contacts')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('platform', '=', d.platform)
    .where('platform_user_id', '=', d.platform_user_id)
    .executeTakeFirst();
  if (!existing) {
    const row: ContactsTable = {
      id: newId('contact', now),
      tenant_id: tenantId,
      platform: d.platform,
      platform_user_id: d.platform_user_id,
      nickname: d.nickname ?? null,
      avatar_url: d.avatar_url ?? null,
      first_seen_at: seen,
      last_seen_at: seen,
    };
    await tx.insertInto('contacts').values(row).execute();
    await emit('contact.created', { contact: toContact(row) });
    return row;
  }
  const next = {
    ...existing,
    nickname: d.nickname ?? existing.nickname,
    avatar_url: d.avatar_url ?? existing.avatar_url,
    last_seen_at: Math.max(existing.last_seen_at, seen),
  };
  const profileChanged =
    next.nickname !== existing.nickname || next.avatar_url !== existing.avatar_url;
  if (profileChanged || next.last_seen_at !== existing.last_seen_at) {
    await tx
      .updateTable('contacts')
      .set({
        nickname: next.nickname,
        avatar_url: next.avatar_url,
        last_seen_at: next.last_seen_at,
      })
      .where('id', '=', existing.id)
      .execute();
    if (profileChanged) await emit('contact.updated', { contact: toContact(next) });
  }
  return next;
}

/** The contact's open conversation, or a new one (which routing may assign at once). */
async function openConversation(
  ctx: Ctx,
  contact: ContactsTable,
  sessionId: string,
  platform: Platform,
  opts: { blocked: boolean },
) {
  const { tx, tenantId, now, emit, s } = ctx;
  const open = await tx
    .selectFrom('conversations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('contact_id', '=', contact.id)
    .where('state', '!=', 'closed')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (open) return open;
  if (opts.blocked) {
    // A blocked user's message must not put work in the queue: keep it with their latest
    // conversation, or in a closed one made to hold it.
    const latest = await tx
      .selectFrom('conversations')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('contact_id', '=', contact.id)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    if (latest) return latest;
  }
  const row: ConversationsTable = {
    id: newId('conversation', now),
    tenant_id: tenantId,
    contact_id: contact.id,
    instance_id: ctx.instanceId,
    platform,
    session_id: sessionId,
    state: opts.blocked ? 'closed' : 'waiting',
    assigned_agent_id: null,
    transfer_from_agent_id: null,
    transfer_to_agent_id: null,
    transfer_note: null,
    transfer_requested_at: null,
    last_message_preview: null,
    last_activity_at: now,
    unread_count: 0,
    message_count: 0,
    created_at: now,
    updated_at: now,
    first_user_message_at: null,
    first_agent_reply_at: null,
    assigned_at: null,
    closed_at: opts.blocked ? now : null,
    close_reason: opts.blocked ? 'blocked_by_blacklist' : null,
    handled_by: null,
    handoff_count: 0,
    rating_score: null,
    rating_comment: null,
    rated_at: null,
  };
  await tx.insertInto('conversations').values(row).execute();
  await tx
    .insertInto('conversation_transitions')
    .values({
      tenant_id: tenantId,
      conversation_id: row.id,
      action: 'open',
      from_state: null,
      to_state: row.state,
      actor: `instance:${ctx.instanceId}`,
      reason: opts.blocked ? 'blocked_by_blacklist' : null,
      created_at: now,
    })
    .execute();
  await emit(
    'conversation.created',
    { conversation: toConversation(row) },
    opts.blocked ? { visibility: 'admin' } : {},
  );
  if (!opts.blocked && (await getSettings(tx, tenantId)).auto_assign) {
    const agent = await pickAgent(tx, tenantId, now);
    if (agent) {
      return applyTransition(
        tx,
        emit,
        { tenantId, dbKind: s.database.kind, now },
        row,
        { label: 'system:routing', memberId: null, privileged: true },
        { action: 'assign', agentId: agent },
      );
    }
  }
  return row;
}

async function ingestOne(ctx: Ctx, e: SidecarEvent): Promise<string | null> {
  const { tx, tenantId, now, emit, s } = ctx;
  if (e.type === 'message.inbound' || e.type === 'message.blocked') {
    const d = e.data;
    const blocked = e.type === 'message.blocked';
    const contact = await upsertContact(ctx, d);
    let conv = await openConversation(ctx, contact, d.session_id, d.platform, { blocked });
    const sentAt = Date.parse(d.sent_at);
    const msg = await insertMessage(tx, s.database.kind, {
      id: newId('message', now),
      tenant_id: tenantId,
      conversation_id: conv.id,
      contact_id: contact.id,
      sender: 'user',
      agent_id: null,
      kind: d.kind,
      text: d.text ?? null,
      media: d.media ? JSON.stringify(d.media) : null,
      status: blocked ? 'blocked_by_blacklist' : 'received',
      internal: 0,
      platform_message_id: d.platform_message_id,
      created_at: sentAt,
    });
    if (!blocked) {
      conv = {
        ...conv,
        last_activity_at: Math.max(conv.last_activity_at, now),
        last_message_preview: (d.text ?? `[${d.kind}]`).slice(0, 200),
        unread_count: conv.unread_count + 1,
        message_count: conv.message_count + 1,
        first_user_message_at: conv.first_user_message_at ?? sentAt,
        instance_id: ctx.instanceId,
        session_id: d.session_id,
        updated_at: now,
      };
      await tx
        .updateTable('conversations')
        .set({
          last_activity_at: conv.last_activity_at,
          last_message_preview: conv.last_message_preview,
          unread_count: conv.unread_count,
          message_count: conv.message_count,
          first_user_message_at: conv.first_user_message_at,
          instance_id: conv.instance_id,
          session_id: conv.session_id,
          updated_at: now,
        })
        .where('id', '=', conv.id)
        .execute();
      await emit('message.created', {
        message: toMessage(msg),
        conversation: toConversation(conv),
      });
    } else {
      await emit(
        'message.blocked',
        {
          message: toMessage(msg),
          contact: toContact(contact),
          reason: e.data.reason ?? null,
          entry_id: e.data.entry_id ?? null,
        },
        { visibility: 'admin' },
      );
    }
    return msg.id;
  }
  // message.outbound_sent: what AstrBot replied by itself.
  const d = e.data;
  let conv: ConversationsTable | undefined;
  if (d.platform_user_id) {
    conv = await tx
      .selectFrom('conversations as c')
      .innerJoin('contacts as ct', 'ct.id', 'c.contact_id')
      .selectAll('c')
      .where('c.tenant_id', '=', tenantId)
      .where('ct.platform', '=', d.platform)
      .where('ct.platform_user_id', '=', d.platform_user_id)
      .orderBy('c.created_at', 'desc')
      .executeTakeFirst();
  }
  conv ??= await tx
    .selectFrom('conversations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('session_id', '=', d.session_id)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!conv) return null; // a reply to someone we never saw: nothing to attach it to
  const msg = await insertMessage(tx, s.database.kind, {
    id: newId('message', now),
    tenant_id: tenantId,
    conversation_id: conv.id,
    contact_id: conv.contact_id,
    sender: 'bot',
    agent_id: null,
    kind: d.kind,
    text: d.text ?? null,
    media: d.media ? JSON.stringify(d.media) : null,
    status: 'sent',
    internal: 0,
    platform_message_id: d.platform_message_id ?? null,
    created_at: Date.parse(d.sent_at),
  });
  const next = {
    ...conv,
    last_activity_at: now,
    message_count: conv.message_count + 1,
    handled_by: conv.handled_by ?? 'bot',
    updated_at: now,
    last_message_preview: (d.text ?? `[${d.kind}]`).slice(0, 200),
  };
  await tx
    .updateTable('conversations')
    .set({
      last_activity_at: now,
      message_count: next.message_count,
      handled_by: next.handled_by,
      updated_at: now,
      last_message_preview: next.last_message_preview,
    })
    .where('id', '=', conv.id)
    .execute();
  await emit('message.created', { message: toMessage(msg), conversation: toConversation(next) });
  return msg.id;
}

/**
 * Ingests a validated batch in one transaction, idempotent on event ids: an id seen before
 * is not applied again and answers with the message it produced the first time, so a replayed
 * batch answers exactly as the original did.
 */
export async function ingestBatch(
  s: Services,
  tenantId: string,
  instanceId: string,
  events: SidecarEvent[],
) {
  const ids = events.map((e) => e.id);
  return s.events.transact(tenantId, async (tx, emit) => {
    const seen = new Map<string, string | null>();
    for (let i = 0; i < ids.length; i += 400) {
      const rows = await tx
        .selectFrom('ingested_events')
        .select(['event_id', 'message_id'])
        .where('tenant_id', '=', tenantId)
        .where('event_id', 'in', ids.slice(i, i + 400))
        .execute();
      for (const r of rows) seen.set(r.event_id, r.message_id);
    }
    const results: Array<{ id: string; message_id: string | null }> = [];
    for (const e of events) {
      if (seen.has(e.id)) {
        results.push({ id: e.id, message_id: seen.get(e.id) ?? null });
        continue;
      }
      const now = s.now();
      const messageId = await ingestOne({ s, tenantId, instanceId, now, tx, emit }, e);
      await tx
        .insertInto('ingested_events')
        .values({
          tenant_id: tenantId,
          event_id: e.id,
          instance_id: instanceId,
          message_id: messageId,
          created_at: now,
        })
        .execute();
      seen.set(e.id, messageId);
      results.push({ id: e.id, message_id: messageId });
    }
    return { object: 'ingest_result' as const, accepted: results.length, results };
  });
}

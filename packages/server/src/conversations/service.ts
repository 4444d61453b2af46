import {
  type Conversation,
  type ConversationAction,
  type ConversationSettings,
  type ConversationState,
  type Message,
  nextState,
  type Platform,
} from '@astrdesk/protocol';
import { type Selectable, sql } from 'kysely';
import { newId } from '../infra/crypto/index.js';
import { type Db, iso, type Tx, toBool } from '../infra/db/index.js';
import type { ConversationsTable, MessagesTable } from '../infra/db/schema.js';
import type { Emit } from '../infra/events/index.js';
import { ApiError, notFound } from '../infra/http/errors.js';
import { tokenize } from '../search/tokenize.js';

export const DEFAULT_SETTINGS: ConversationSettings = {
  auto_assign: false,
  inactivity_close_minutes: 0,
  transfer_timeout_seconds: 120,
  max_text_bytes: 16 * 1024,
};

export function toConversation(r: ConversationsTable): Conversation {
  return {
    id: r.id,
    object: 'conversation',
    state: r.state as ConversationState,
    contact_id: r.contact_id,
    instance_id: r.instance_id,
    platform: r.platform as Platform,
    session_id: r.session_id,
    assigned_agent_id: r.assigned_agent_id,
    transfer:
      r.transfer_to_agent_id && r.transfer_requested_at !== null
        ? {
            from_agent_id: r.transfer_from_agent_id,
            to_agent_id: r.transfer_to_agent_id,
            note: r.transfer_note,
            requested_at: iso(r.transfer_requested_at),
          }
        : null,
    last_message_preview: r.last_message_preview,
    last_activity_at: iso(r.last_activity_at),
    unread_count: r.unread_count,
    message_count: r.message_count,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    first_user_message_at: iso(r.first_user_message_at),
    first_agent_reply_at: iso(r.first_agent_reply_at),
    assigned_at: iso(r.assigned_at),
    closed_at: iso(r.closed_at),
    close_reason: r.close_reason,
    handled_by: r.handled_by as Conversation['handled_by'],
    handoff_count: r.handoff_count,
    rating:
      r.rating_score !== null && r.rated_at !== null
        ? { score: r.rating_score, comment: r.rating_comment, rated_at: iso(r.rated_at) }
        : null,
  };
}

export function toMessage(r: Omit<Selectable<MessagesTable>, 'rid'> & { rid?: unknown }): Message {
  return {
    id: r.id,
    object: 'message',
    conversation_id: r.conversation_id,
    contact_id: r.contact_id,
    sender: r.sender as Message['sender'],
    agent_id: r.agent_id,
    kind: r.kind as Message['kind'],
    text: r.text,
    media: r.media ? (JSON.parse(r.media) as Message['media']) : null,
    status: r.status as Message['status'],
    internal: toBool(r.internal),
    platform_message_id: r.platform_message_id,
    created_at: iso(r.created_at),
  };
}

export async function getSettings(db: Db | Tx, tenantId: string): Promise<ConversationSettings> {
  const row = await db
    .selectFrom('tenant_settings')
    .select('conversation')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row
    ? { ...DEFAULT_SETTINGS, ...(JSON.parse(row.conversation) as Partial<ConversationSettings>) }
    : DEFAULT_SETTINGS;
}

export async function updateSettings(
  db: Db,
  tenantId: string,
  patch: Partial<ConversationSettings>,
  now: number,
) {
  const next = { ...(await getSettings(db, tenantId)), ...patch };
  await db
    .insertInto('tenant_settings')
    .values({ tenant_id: tenantId, conversation: JSON.stringify(next), updated_at: now })
    .onConflict((oc) =>
      oc.column('tenant_id').doUpdateSet({ conversation: JSON.stringify(next), updated_at: now }),
    )
    .execute();
  return next;
}

/** The message row and its search index entry, written together. */
export type MessageRow = Selectable<MessagesTable>;

export async function insertMessage(
  tx: Tx,
  dbKind: 'sqlite' | 'postgres',
  row: Omit<MessageRow, 'rid' | 'search_tokens'>,
): Promise<MessageRow> {
  // Internal notes and system lines are searchable too; blocked messages are (admins search them).
  const tokens = tokenize(row.text);
  const inserted = await tx
    .insertInto('messages')
    .values({ ...row, search_tokens: tokens || null })
    .returning('rid')
    .executeTakeFirstOrThrow();
  if (dbKind === 'sqlite' && tokens) {
    await sql`insert into messages_fts (rowid, tokens) values (${inserted.rid}, ${tokens})`.execute(
      tx,
    );
  }
  return { ...row, rid: inserted.rid, search_tokens: tokens || null };
}

export interface Actor {
  /** `member:usr_...`, `api_key:key_...`, `system:routing`, ... — stored with every transition. */
  label: string;
  memberId: string | null;
  /** Owners and admins may act on any conversation (e.g. accept a transfer meant for someone else). */
  privileged: boolean;
}

async function memberName(tx: Tx, tenantId: string, id: string | null): Promise<string> {
  if (!id) return 'nobody';
  const m = await tx
    .selectFrom('members')
    .select('name')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return m?.name ?? id;
}

/** An enabled member of this tenant, or 404 naming the field. */
async function requireAgent(tx: Tx, tenantId: string, id: string, param: string) {
  const m = await tx
    .selectFrom('members')
    .select(['id', 'name', 'disabled'])
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!m || toBool(m.disabled))
    throw new ApiError('not_found', 'No such agent in this tenant', { param });
  return m;
}

export interface TransitionInput {
  action: ConversationAction;
  agentId?: string | undefined;
  note?: string | undefined;
  reason?: string | undefined;
}

/**
 * Applies one state-machine action: checks it against the table in protocol (409 with the
 * current state otherwise), updates the conversation, stores the transition, adds a system
 * message and emits `conversation.state_changed` + `message.created`, all in `tx`.
 */
export async function applyTransition(
  tx: Tx,
  emit: Emit,
  ctx: { tenantId: string; dbKind: 'sqlite' | 'postgres'; now: number },
  conv: ConversationsTable,
  actor: Actor,
  input: TransitionInput,
): Promise<ConversationsTable> {
  const from = conv.state as ConversationState;
  const to = nextState(input.action, from);
  if (!to) {
    throw new ApiError(
      'invalid_state_transition',
      `Cannot ${input.action} a conversation that is ${from}`,
      {
        details: { current_state: from, action: input.action },
      },
    );
  }
  const { now, tenantId } = ctx;
  const next: ConversationsTable = { ...conv, state: to, updated_at: now };
  const clearTransfer = () => {
    next.transfer_from_agent_id = null;
    next.transfer_to_agent_id = null;
    next.transfer_note = null;
    next.transfer_requested_at = null;
  };
  const assignTo = (agentId: string) => {
    if (conv.assigned_agent_id && conv.assigned_agent_id !== agentId)
      next.handoff_count = conv.handoff_count + 1;
    next.assigned_agent_id = agentId;
    next.assigned_at ??= now;
    next.handled_by = 'agent';
  };
  let text: string;
  switch (input.action) {
    case 'accept': {
      if (!actor.memberId)
        throw new ApiError('forbidden', 'Only a member can accept a conversation');
      if (
        from === 'transferring' &&
        conv.transfer_to_agent_id !== actor.memberId &&
        !actor.privileged
      ) {
        throw new ApiError('forbidden', 'This transfer is for another agent');
      }
      const agent = from === 'transferring' ? conv.transfer_to_agent_id! : actor.memberId;
      assignTo(agent);
      clearTransfer();
      text = `${await memberName(tx, tenantId, agent)} joined the conversation`;
      break;
    }
    case 'assign': {
      const agent = await requireAgent(tx, tenantId, input.agentId!, 'agent_id');
      assignTo(agent.id);
      text = `Assigned to ${agent.name}`;
      break;
    }
    case 'transfer': {
      const agent = await requireAgent(tx, tenantId, input.agentId!, 'to_agent_id');
      if (agent.id === conv.assigned_agent_id)
        throw new ApiError(
          'validation_failed',
          'The conversation is already assigned to this agent',
          { param: 'to_agent_id' },
        );
      if (!actor.privileged && actor.memberId !== conv.assigned_agent_id)
        throw new ApiError(
          'forbidden',
          'Only the assignee or an admin can transfer this conversation',
        );
      next.transfer_from_agent_id = conv.assigned_agent_id;
      next.transfer_to_agent_id = agent.id;
      next.transfer_note = input.note ?? null;
      next.transfer_requested_at = now;
      text = `Transfer to ${agent.name} requested${input.note ? `: ${input.note}` : ''}`;
      break;
    }
    case 'decline': {
      if (
        actor.memberId !== conv.transfer_to_agent_id &&
        !actor.privileged &&
        !actor.label.startsWith('system:')
      ) {
        throw new ApiError('forbidden', 'Only the transfer target or an admin can decline it');
      }
      text =
        input.reason === 'timeout'
          ? 'Transfer timed out; back with the previous agent'
          : `${await memberName(tx, tenantId, conv.transfer_to_agent_id)} declined the transfer`;
      clearTransfer();
      break;
    }
    case 'release':
      next.assigned_agent_id = null;
      text = 'Returned to the queue';
      break;
    case 'close':
      clearTransfer();
      next.closed_at = now;
      next.close_reason = input.reason ?? null;
      text = input.reason ? `Conversation closed: ${input.reason}` : 'Conversation closed';
      break;
    case 'reopen':
      next.closed_at = null;
      next.close_reason = null;
      next.assigned_agent_id = null;
      text = 'Conversation reopened';
      break;
  }
  await tx
    .updateTable('conversations')
    .set({
      state: next.state,
      assigned_agent_id: next.assigned_agent_id,
      assigned_at: next.assigned_at,
      handled_by: next.handled_by,
      handoff_count: next.handoff_count,
      transfer_from_agent_id: next.transfer_from_agent_id,
      transfer_to_agent_id: next.transfer_to_agent_id,
      transfer_note: next.transfer_note,
      transfer_requested_at: next.transfer_requested_at,
      closed_at: next.closed_at,
      close_reason: next.close_reason,
      updated_at: now,
    })
    .where('id', '=', conv.id)
    .where('tenant_id', '=', tenantId)
    .execute();
  await tx
    .insertInto('conversation_transitions')
    .values({
      tenant_id: tenantId,
      conversation_id: conv.id,
      action: input.action,
      from_state: from,
      to_state: to,
      actor: actor.label,
      reason: input.reason ?? input.note ?? null,
      created_at: now,
    })
    .execute();
  const sys = await insertMessage(tx, ctx.dbKind, {
    id: newId('message', now),
    tenant_id: tenantId,
    conversation_id: conv.id,
    contact_id: conv.contact_id,
    sender: 'system',
    agent_id: actor.memberId,
    kind: 'system',
    text,
    media: null,
    status: 'sent',
    internal: 0,
    platform_message_id: null,
    created_at: now,
  });
  await emit('conversation.state_changed', {
    conversation: toConversation(next),
    transition: {
      action: input.action,
      from_state: from,
      to_state: to,
      actor: actor.label,
      reason: input.reason ?? null,
    },
  });
  await emit('message.created', { message: toMessage(sys) });
  return next;
}

/**
 * Routing: the enabled member who is online (explicitly, with a live connection) and has the
 * fewest active conversations; null when nobody is online.
 */
export async function pickAgent(tx: Tx, tenantId: string, now: number): Promise<string | null> {
  const rows = await tx
    .selectFrom('agent_presence as p')
    .innerJoin('members as m', 'm.id', 'p.member_id')
    .leftJoin('conversations as c', (j) =>
      j
        .onRef('c.assigned_agent_id', '=', 'p.member_id')
        .on('c.state', 'in', ['active', 'transferring']),
    )
    .select(['p.member_id', (eb) => eb.fn.count<number>('c.id').as('load')])
    .where('p.tenant_id', '=', tenantId)
    .where('p.explicit_status', '=', 'online')
    .where('p.connections', '>', 0)
    .where('p.heartbeat_at', '>', now - PRESENCE_STALE_MS)
    .where('m.disabled', '=', 0)
    .groupBy('p.member_id')
    .orderBy('load', 'asc')
    .orderBy('p.member_id', 'asc')
    .limit(1)
    .execute();
  return rows[0]?.member_id ?? null;
}

/** A connection that has not sent a heartbeat for this long no longer counts as online. */
export const PRESENCE_STALE_MS = 90_000;

export async function loadConversation(
  db: Db | Tx,
  tenantId: string,
  id: string,
): Promise<ConversationsTable> {
  const row = await db
    .selectFrom('conversations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('conversation');
  return row;
}

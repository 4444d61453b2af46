import { z } from 'zod';
import { Timestamp } from './common.js';
import { Platform } from './platforms.js';

export const CONVERSATION_STATES = ['waiting', 'active', 'transferring', 'closed'] as const;
export const ConversationState = z.enum(CONVERSATION_STATES).meta({ id: 'ConversationState' });
export type ConversationState = z.infer<typeof ConversationState>;

/**
 * The conversation state machine: for each action, the states it may start from and the
 * state it leads to. Everything not listed is illegal and answers 409 with the current state.
 *
 * - accept: an agent takes a waiting conversation, or the target of a transfer takes it.
 * - assign: an admin (or routing) gives it to an agent; from active it is a reassignment.
 * - transfer: the assignee hands it to another agent, who accepts or declines (or it times out).
 * - decline: the transfer target refuses; it goes back to the previous assignee.
 * - release: the assignee puts it back in the queue.
 * - close / reopen.
 */
export const CONVERSATION_ACTIONS = {
  accept: { waiting: 'active', transferring: 'active' },
  assign: { waiting: 'active', active: 'active' },
  transfer: { active: 'transferring' },
  decline: { transferring: 'active' },
  release: { active: 'waiting' },
  close: { waiting: 'closed', active: 'closed', transferring: 'closed' },
  reopen: { closed: 'waiting' },
} as const satisfies Record<string, Partial<Record<ConversationState, ConversationState>>>;
export type ConversationAction = keyof typeof CONVERSATION_ACTIONS;

/** Legal `from → to` state pairs, derived from the actions. */
export const CONVERSATION_TRANSITIONS: Record<ConversationState, readonly ConversationState[]> =
  (() => {
    const out: Record<ConversationState, Set<ConversationState>> = {
      waiting: new Set(),
      active: new Set(),
      transferring: new Set(),
      closed: new Set(),
    };
    for (const table of Object.values(CONVERSATION_ACTIONS)) {
      for (const [from, to] of Object.entries(table) as [ConversationState, ConversationState][])
        out[from].add(to);
    }
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v]])) as Record<
      ConversationState,
      ConversationState[]
    >;
  })();

export function nextState(
  action: ConversationAction,
  from: ConversationState,
): ConversationState | undefined {
  return (CONVERSATION_ACTIONS[action] as Partial<Record<ConversationState, ConversationState>>)[
    from
  ];
}

export const HANDLED_BY = ['bot', 'agent'] as const;

export const Conversation = z
  .object({
    id: z.string(),
    object: z.literal('conversation'),
    state: ConversationState,
    contact_id: z.string(),
    instance_id: z.string().nullable(),
    platform: Platform,
    session_id: z.string().nullable(),
    assigned_agent_id: z.string().nullable(),
    transfer: z
      .object({
        from_agent_id: z.string().nullable(),
        to_agent_id: z.string(),
        note: z.string().nullable(),
        requested_at: Timestamp,
      })
      .nullable(),
    last_message_preview: z.string().nullable(),
    last_activity_at: Timestamp,
    unread_count: z.number().int(),
    message_count: z.number().int(),
    created_at: Timestamp,
    updated_at: Timestamp,
    first_user_message_at: Timestamp.nullable(),
    first_agent_reply_at: Timestamp.nullable(),
    assigned_at: Timestamp.nullable(),
    closed_at: Timestamp.nullable(),
    close_reason: z.string().nullable(),
    handled_by: z.enum(HANDLED_BY).nullable(),
    handoff_count: z.number().int(),
    rating: z
      .object({ score: z.number().int(), comment: z.string().nullable(), rated_at: Timestamp })
      .nullable(),
  })
  .meta({ id: 'Conversation' });
export type Conversation = z.infer<typeof Conversation>;

export const ConversationListQuery = z.object({
  state: ConversationState.optional(),
  agent_id: z.string().max(64).optional(),
  platform: Platform.optional(),
  contact_id: z.string().max(64).optional(),
  from: Timestamp.optional().meta({ description: 'Last activity at or after' }),
  to: Timestamp.optional().meta({ description: 'Last activity before' }),
  unread: z.enum(['true', 'false']).optional().meta({
    description: 'Only conversations with (true) or without (false) unread user messages',
  }),
});

export const AssignRequest = z
  .strictObject({ agent_id: z.string().min(1).max(64) })
  .meta({ id: 'AssignRequest', example: { agent_id: 'usr_01JD3Y0M5Q8W2K7T4F9XG1B6CE' } });
export const TransferRequest = z
  .strictObject({
    to_agent_id: z.string().min(1).max(64),
    note: z.string().trim().max(1000).optional(),
  })
  .meta({
    id: 'TransferRequest',
    example: { to_agent_id: 'usr_01JD3Y0M5Q8W2K7T4F9XG1B6CE', note: 'billing question' },
  });
export const CloseRequest = z
  .strictObject({ reason: z.string().trim().max(1000).optional() })
  .meta({ id: 'CloseRequest', example: { reason: 'resolved' } });
export const RatingRequest = z
  .strictObject({
    score: z.number().int().min(1).max(5),
    comment: z.string().trim().max(2000).optional(),
  })
  .meta({ id: 'RatingRequest', example: { score: 5, comment: 'quick and friendly' } });

export const ConversationTransition = z
  .object({
    from_state: ConversationState.nullable(),
    to_state: ConversationState,
    action: z.string(),
    actor: z.string(),
    reason: z.string().nullable(),
    created_at: Timestamp,
  })
  .meta({ id: 'ConversationTransition' });

export const PRESENCE_STATUSES = ['online', 'away', 'offline'] as const;
export const PresenceStatus = z.enum(PRESENCE_STATUSES).meta({ id: 'PresenceStatus' });
export const Presence = z
  .object({
    member_id: z.string(),
    status: PresenceStatus.meta({
      description: 'Effective: explicit status while connected, else offline',
    }),
    explicit_status: PresenceStatus,
    connections: z.number().int(),
    active_conversations: z.number().int(),
    updated_at: Timestamp.nullable(),
  })
  .meta({ id: 'Presence' });
export const SetPresenceRequest = z
  .strictObject({ status: PresenceStatus })
  .meta({ id: 'SetPresenceRequest', example: { status: 'online' } });

/** Per-tenant conversation settings. */
export const ConversationSettings = z
  .object({
    auto_assign: z.boolean(),
    inactivity_close_minutes: z
      .number()
      .int()
      .min(0)
      .max(60 * 24 * 30)
      .meta({ description: '0 disables auto-close' }),
    transfer_timeout_seconds: z.number().int().min(10).max(86_400),
    max_text_bytes: z.number().int().min(256).max(1_000_000),
  })
  .meta({ id: 'ConversationSettings' });
export type ConversationSettings = z.infer<typeof ConversationSettings>;
export const UpdateConversationSettings = ConversationSettings.partial()
  .strict()
  .meta({
    id: 'UpdateConversationSettings',
    example: { auto_assign: true, inactivity_close_minutes: 120 },
  });

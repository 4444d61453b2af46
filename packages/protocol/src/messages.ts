import { z } from 'zod';
import { Timestamp } from './common.js';

export const MESSAGE_KINDS = ['text', 'image', 'voice', 'file', 'system'] as const;
export const MessageKind = z.enum(MESSAGE_KINDS).meta({ id: 'MessageKind' });
export type MessageKind = z.infer<typeof MessageKind>;

export const MESSAGE_SENDERS = ['user', 'agent', 'bot', 'system'] as const;
export const MessageSender = z.enum(MESSAGE_SENDERS).meta({ id: 'MessageSender' });

/**
 * `received`: from the user; `queued`/`sent`/`failed`: an agent reply on its way to the IM
 * platform; `blocked_by_blacklist`: stopped by the sidecar, visible to admins only.
 */
export const MESSAGE_STATUSES = [
  'received',
  'queued',
  'sent',
  'failed',
  'blocked_by_blacklist',
] as const;
export const MessageStatus = z.enum(MESSAGE_STATUSES).meta({ id: 'MessageStatus' });

/** A file the message refers to (image, voice, file): where it is and what it is. */
export const MediaRef = z
  .strictObject({
    url: z.string().max(4096).optional(),
    file_id: z.string().max(128).optional(),
    mime_type: z.string().max(255).optional(),
    size_bytes: z.number().int().min(0).optional(),
    duration_sec: z.number().min(0).optional(),
    name: z.string().max(255).optional(),
  })
  .meta({ id: 'MediaRef' });

export const Message = z
  .object({
    id: z.string(),
    object: z.literal('message'),
    conversation_id: z.string(),
    contact_id: z.string().nullable(),
    sender: MessageSender,
    agent_id: z.string().nullable(),
    kind: MessageKind,
    text: z.string().nullable(),
    media: MediaRef.nullable(),
    status: MessageStatus,
    internal: z.boolean().meta({ description: 'An internal note: never sent to the user' }),
    platform_message_id: z.string().nullable(),
    created_at: Timestamp,
  })
  .meta({ id: 'Message' });
export type Message = z.infer<typeof Message>;

export const CreateMessageRequest = z
  .strictObject({
    text: z
      .string()
      .min(1)
      .meta({ description: "Longer than the tenant's max_text_bytes (default 16 KB) answers 400" }),
    internal: z.boolean().default(false),
  })
  .meta({ id: 'CreateMessageRequest', example: { text: '您好，请问有什么可以帮您？' } });

export const MessageListQuery = z.object({
  direction: z
    .enum(['older', 'newer'])
    .default('older')
    .meta({ description: 'older: newest first, paging back; newer: oldest first, paging forward' }),
  around: z
    .string()
    .max(64)
    .optional()
    .meta({ description: 'A message id: the page centred on it' }),
});

export const MessageSearchQuery = z.object({
  q: z.string().trim().min(1).max(200).optional(),
  contact_id: z.string().max(64).optional(),
  nickname: z.string().trim().min(1).max(100).optional(),
  agent_id: z.string().max(64).optional(),
  kind: MessageKind.optional(),
  conversation_id: z.string().max(64).optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
});

export const MessageSearchHit = Message.extend({
  snippet: z
    .string()
    .nullable()
    .meta({ description: 'HTML-escaped text around the match, matches in <mark>' }),
}).meta({ id: 'MessageSearchHit' });

export const Delivery = z
  .object({
    id: z.string(),
    message_id: z.string(),
    instance_id: z.string().nullable(),
    status: z.enum(['queued', 'sent', 'failed']),
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Delivery' });

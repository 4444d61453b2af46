import { z } from 'zod';
import { Timestamp } from './common.js';

/**
 * Every kind of event in a tenant's log. Realtime sockets and webhooks both read the log;
 * webhook endpoints subscribe to these names (or `*`).
 */
export const EVENT_TYPES = [
  'conversation.created',
  'conversation.updated',
  'conversation.state_changed',
  'conversation.rated',
  'message.created',
  'message.updated',
  'message.blocked',
  'contact.created',
  'contact.updated',
  'delivery.queued',
  'delivery.updated',
  'presence.updated',
  'blacklist.changed',
] as const;
export const EventType = z.enum(EVENT_TYPES).meta({ id: 'EventType' });
export type EventType = z.infer<typeof EventType>;

/** `{ seq, id, type, data, created_at }`: one entry of a tenant's ordered, gap-free log. */
export const EventEnvelope = z
  .object({
    seq: z.number().int().min(1),
    id: z.string(),
    type: EventType,
    data: z.record(z.string(), z.unknown()),
    created_at: Timestamp,
  })
  .meta({ id: 'EventEnvelope' });
export type EventEnvelope = z.infer<typeof EventEnvelope>;

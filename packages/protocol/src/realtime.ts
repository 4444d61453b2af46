import { z } from 'zod';
import { EventEnvelope } from './events.js';

/** WebSocket close codes of `GET /v1/realtime`. */
export const REALTIME_CLOSE_CODES = {
  /** A frame the server could not understand (bad JSON, unknown type). */
  policyViolation: 1008,
  /** The client read too slowly; its send buffer overflowed. Reconnect with `last_seq`. */
  slowConsumer: 4008,
  /** The credential stopped working (revoked, tenant suspended). */
  unauthorized: 4001,
  serverShutdown: 1001,
} as const;

/** Frames the server sends. Events are the log envelopes themselves. */
export const RealtimeServerFrame = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    last_seq: z.number().int(),
    principal: z.object({ kind: z.string(), id: z.string() }),
  }),
  z.object({ type: z.literal('event'), event: EventEnvelope }),
  z.object({ type: z.literal('resync_required'), reason: z.string(), last_seq: z.number().int() }),
  z.object({ type: z.literal('pong'), ts: z.number().optional() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type RealtimeServerFrame = z.infer<typeof RealtimeServerFrame>;

/** Frames a client may send. */
export const RealtimeClientFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ping'), ts: z.number().optional() }),
  z.strictObject({ type: z.literal('ack'), seq: z.number().int().min(0) }),
]);
export type RealtimeClientFrame = z.infer<typeof RealtimeClientFrame>;

import { z } from 'zod';
import { Timestamp } from './common.js';
import { MediaRef, MessageKind } from './messages.js';
import { Platform } from './platforms.js';

export const MAX_INGEST_BATCH = 500;

const InboundData = z.strictObject({
  platform: Platform,
  platform_instance_id: z.string().max(200).optional(),
  platform_user_id: z.string().min(1).max(200),
  nickname: z.string().max(200).optional(),
  avatar_url: z.string().max(2048).optional(),
  adapter: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .meta({ description: 'AstrBot adapter name when `platform` is `other` (e.g. `satori`)' }),
  group_id: z.string().max(200).optional(),
  platform_message_id: z.string().min(1).max(200),
  session_id: z.string().min(1).max(500).meta({ description: "AstrBot's unified_msg_origin" }),
  kind: MessageKind.exclude(['system']),
  text: z.string().max(1_000_000).optional(),
  media: MediaRef.optional(),
  sent_at: Timestamp,
});

/** A user message AstrBot received (and the blacklist let through). */
export const MessageInboundData = InboundData.meta({ id: 'MessageInboundData' });

/** A user message the sidecar stopped because the user is blacklisted. */
export const MessageBlockedData = InboundData.extend({
  message_status: z.literal('blocked_by_blacklist'),
  reason: z.string().max(1000).optional(),
  entry_id: z.string().max(64).optional(),
}).meta({ id: 'MessageBlockedData' });

/** A reply AstrBot sent by itself (its LLM or another plugin). */
export const MessageOutboundSentData = z
  .strictObject({
    platform: Platform,
    platform_user_id: z.string().min(1).max(200).optional(),
    platform_message_id: z.string().max(200).optional(),
    session_id: z.string().min(1).max(500),
    kind: MessageKind.exclude(['system']),
    text: z.string().max(1_000_000).optional(),
    media: MediaRef.optional(),
    sent_at: Timestamp,
  })
  .meta({ id: 'MessageOutboundSentData' });

const eventBase = {
  id: z
    .string()
    .min(1)
    .max(128)
    .meta({ description: 'Stable id chosen by the sender; ingest is idempotent on it' }),
  occurred_at: Timestamp,
};

/** One event from a sidecar. The `type` picks the shape of `data`. */
export const SidecarEvent = z.discriminatedUnion('type', [
  z.strictObject({ ...eventBase, type: z.literal('message.inbound'), data: MessageInboundData }),
  z.strictObject({ ...eventBase, type: z.literal('message.blocked'), data: MessageBlockedData }),
  z.strictObject({
    ...eventBase,
    type: z.literal('message.outbound_sent'),
    data: MessageOutboundSentData,
  }),
]);
export type SidecarEvent = z.infer<typeof SidecarEvent>;
export const SIDECAR_EVENT_TYPES = [
  'message.inbound',
  'message.blocked',
  'message.outbound_sent',
] as const;

export const IngestRequest = z
  .strictObject({ events: z.array(z.unknown()).min(1).max(MAX_INGEST_BATCH) })
  .meta({
    id: 'IngestRequest',
    example: {
      events: [
        {
          id: 'sc_01JD3Y0M5Q8W2K7T4F9XG1B6CE',
          type: 'message.inbound',
          occurred_at: '2026-01-01T10:00:00.000Z',
          data: {
            platform: 'qq',
            platform_user_id: '10001',
            nickname: '小王',
            platform_message_id: 'm-1',
            session_id: 'aiocqhttp:FriendMessage:10001',
            kind: 'text',
            text: '我想申请退款',
            sent_at: '2026-01-01T10:00:00.000Z',
          },
        },
      ],
    },
  });

/** Same answer for a replayed batch: each event's id and the message it produced. */
export const IngestResult = z
  .object({
    object: z.literal('ingest_result'),
    accepted: z.number().int(),
    results: z.array(z.object({ id: z.string(), message_id: z.string().nullable() })),
  })
  .meta({ id: 'IngestResult' });

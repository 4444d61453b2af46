import { z } from 'zod';
import { SyncEntry } from './blacklist.js';
import { MediaRef } from './messages.js';

/**
 * The control channel: one WebSocket per sidecar, opened by the sidecar to
 * `GET /v1/sidecar/connect` with its instance token. Every frame is a JSON envelope
 * `{ v: 1, type, ... }`. A frame of another version, or a malformed one, closes the channel
 * with 1008 and both sides reconnect; a well-formed frame of a type the receiver does not know
 * (a newer peer's: {@link unknownControlFrameType}) is skipped, so that either side can be
 * upgraded first. Later issues add frame types (deliveries, config, secrets) to these unions.
 */
export const CONTROL_PROTOCOL_VERSION = 1;

export const CONTROL_CLOSE_CODES = {
  protocolError: 1008,
  unauthorized: 4001,
  replaced: 4009,
  serverShutdown: 1001,
} as const;

const v = z.literal(CONTROL_PROTOCOL_VERSION);

/** Sidecar → server. */
export const SidecarFrame = z.discriminatedUnion('type', [
  z.strictObject({
    v,
    type: z.literal('hello'),
    since: z.number().int().min(0),
    version: z.string().max(100),
    entries: z.number().int().min(0).optional(),
  }),
  z.strictObject({ v, type: z.literal('ack'), revision: z.number().int().min(0) }),
  z.strictObject({ v, type: z.literal('resync'), reason: z.string().max(500) }),
  z.strictObject({ v, type: z.literal('pong'), ts: z.number().optional() }),
]);
export type SidecarFrame = z.infer<typeof SidecarFrame>;

export const BlacklistChange = z.discriminatedUnion('op', [
  z.object({ op: z.literal('upsert'), revision: z.number().int(), entry: SyncEntry }),
  z.object({
    op: z.literal('delete'),
    revision: z.number().int(),
    id: z.string(),
    platform: z.string(),
    platform_user_id: z.string(),
  }),
]);
export type BlacklistChange = z.infer<typeof BlacklistChange>;

/** Server → sidecar. A snapshot is `snapshot_begin`, any number of `snapshot_chunk`, `snapshot_end`. */
export const ServerFrame = z.discriminatedUnion('type', [
  z.object({
    v,
    type: z.literal('welcome'),
    instance_id: z.string(),
    tenant_id: z.string(),
    revision: z.number().int(),
  }),
  z.object({
    v,
    type: z.literal('snapshot_begin'),
    revision: z.number().int(),
    total: z.number().int(),
  }),
  z.object({ v, type: z.literal('snapshot_chunk'), entries: z.array(SyncEntry) }),
  z.object({
    v,
    type: z.literal('snapshot_end'),
    revision: z.number().int(),
    checksum: z.string(),
  }),
  z.object({
    v,
    type: z.literal('delta'),
    from_revision: z.number().int(),
    revision: z.number().int(),
    changes: z.array(BlacklistChange),
  }),
  z.object({ v, type: z.literal('ping'), ts: z.number() }),
  z.object({ v, type: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

/** The frame types each side sends (what the other side knows). */
export const SIDECAR_FRAME_TYPES: readonly string[] = SidecarFrame.options.map(
  (o) => o.shape.type.value,
);
export const SERVER_FRAME_TYPES: readonly string[] = ServerFrame.options.map(
  (o) => o.shape.type.value,
);

/**
 * The `type` of a frame that is a well-formed envelope of the current version but of a type
 * not in `known` (sent by a newer peer), else undefined. The receiver skips such a frame
 * (logging it once); anything else that fails validation is a protocol error.
 *
 * @example
 * unknownControlFrameType({ v: 1, type: 'capabilities', list: [] }, SIDECAR_FRAME_TYPES); // 'capabilities'
 * unknownControlFrameType({ v: 1, type: 'ack' }, SIDECAR_FRAME_TYPES); // undefined: known (and malformed)
 * unknownControlFrameType({ v: 2, type: 'capabilities' }, SIDECAR_FRAME_TYPES); // undefined: other version
 */
export function unknownControlFrameType(
  raw: unknown,
  known: readonly string[],
): string | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const f = raw as { v?: unknown; type?: unknown };
  if (f.v !== CONTROL_PROTOCOL_VERSION || typeof f.type !== 'string') return undefined;
  if (!/^[a-z][a-z0-9_.]{0,63}$/.test(f.type)) return undefined;
  return known.includes(f.type) ? undefined : f.type;
}

/**
 * Order-independent checksum of a blacklist set, so both sides can prove they hold the same
 * entries: hex of the XOR of per-entry FNV-1a 64-bit hashes of `platform\0user\0expires`.
 */
export function blacklistChecksum(
  entries: Iterable<{ platform: string; platform_user_id: string; expires_at: number | null }>,
): string {
  let hi = 0;
  let lo = 0;
  for (const e of entries) {
    fnv1a64(`${e.platform}\0${e.platform_user_id}\0${e.expires_at ?? ''}`);
    hi ^= out[0]!;
    lo ^= out[1]!;
  }
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

const out = new Uint32Array(2);

/**
 * FNV-1a 64-bit over UTF-16 code units, in four 16-bit limbs (no BigInt: this runs over
 * every entry of a million-entry snapshot). Writes [high 32 bits, low 32 bits] to `out`.
 */
function fnv1a64(s: string): void {
  // offset basis 0xcbf29ce484222325, little-endian 16-bit limbs
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  for (let i = 0; i < s.length; i++) {
    h0 ^= s.charCodeAt(i);
    // × prime 0x100000001b3 = 0x1b3 + 2^40 (limb 2 holds 0x100)
    const t0 = h0 * 0x1b3;
    let t1 = h1 * 0x1b3;
    let t2 = h2 * 0x1b3 + h0 * 0x100;
    let t3 = h3 * 0x1b3 + h1 * 0x100;
    t1 += t0 >>> 16;
    t2 += t1 >>> 16;
    t3 += t2 >>> 16;
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  out[0] = (h3 << 16) | h2;
  out[1] = (h1 << 16) | h0;
}

/** The sidecar's intercept API, called by the AstrBot plugin for every message. */
export const INTERCEPT_ACTIONS = ['pass', 'block'] as const;
export const InterceptRequest = z
  .strictObject({
    platform: z
      .string()
      .min(1)
      .max(64)
      .meta({ description: 'Platform enum value (the plugin maps AstrBot adapter names)' }),
    adapter: z
      .string()
      .max(64)
      .optional()
      .meta({ description: 'AstrBot adapter name when platform is `other`' }),
    platform_instance_id: z.string().max(200),
    user_id: z.string().min(1).max(200),
    nickname: z.string().max(200).optional(),
    group_id: z.string().max(200).optional(),
    session: z.string().min(1).max(500),
    message_id: z.string().min(1).max(200),
    kind: z.enum(['text', 'image', 'voice', 'file']),
    text: z.string().max(1_000_000).optional(),
    sent_at: z.iso.datetime({ offset: true }),
  })
  .meta({ id: 'InterceptRequest' });
export type InterceptRequest = z.infer<typeof InterceptRequest>;
export const InterceptResponse = z
  .object({
    action: z.enum(INTERCEPT_ACTIONS),
    reason: z.string().optional(),
    entry_id: z.string().optional(),
  })
  .meta({ id: 'InterceptResponse' });
export type InterceptResponse = z.infer<typeof InterceptResponse>;

/**
 * What the plugin reports after AstrBot sent a reply by itself
 * (`POST /astrbot-api/v1/messages/outbound`); the sidecar turns it into `message.outbound_sent`.
 * Field names follow the intercept request.
 */
export const OutboundRequest = z
  .strictObject({
    platform: z.string().min(1).max(64),
    adapter: z.string().max(64).optional(),
    platform_instance_id: z.string().max(200).optional(),
    /** The user the reply went to, when AstrBot knows it. */
    user_id: z.string().min(1).max(200).optional(),
    session: z.string().min(1).max(500),
    message_id: z.string().max(200).optional(),
    kind: z.enum(['text', 'image', 'voice', 'file']),
    text: z.string().max(1_000_000).optional(),
    media: MediaRef.optional(),
    /** When AstrBot sent it; defaults to the time the sidecar received the report. */
    sent_at: z.iso.datetime({ offset: true }).optional(),
  })
  .meta({ id: 'OutboundRequest' });
export type OutboundRequest = z.infer<typeof OutboundRequest>;

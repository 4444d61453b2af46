/**
 * Webhook signatures, checked with Web Crypto so the same code runs in Node (≥ 20), browsers,
 * Deno, Bun and edge runtimes.
 *
 * `AstrDesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`: the HMAC key is the endpoint's
 * whole secret (`whsec_...`, UTF-8) and the message is `"<t>." + <raw request body>`. Several
 * `v1=` entries may appear; the request is genuine when any of them matches.
 */
import { AstrDeskError, WebhookVerificationError } from './error.js';
import type { EventEnvelope } from './types.js';

/** The request header carrying the signature (HTTP header names are case-insensitive). */
export const WEBHOOK_SIGNATURE_HEADER = 'AstrDesk-Signature';
/** How far (seconds) the signed timestamp may be from the receiver's clock, by default. */
export const DEFAULT_WEBHOOK_TOLERANCE_SEC = 300;

/** The body exactly as received: a string, or its bytes. */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

export interface VerifyWebhookOptions {
  /**
   * How many seconds the signature's timestamp may be from `now`, either way. Default 300.
   * Older (or future) requests are refused, so a captured request cannot be replayed later.
   */
  toleranceSec?: number | undefined;
  /** The receiver's clock, in milliseconds since the epoch or as a Date. Default `Date.now()`. */
  now?: number | Date | undefined;
}

const encoder = new TextEncoder();

function bytesOf(body: WebhookBody): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new AstrDeskError('The webhook body must be a string, a Uint8Array or an ArrayBuffer');
}

function textOf(body: WebhookBody): string {
  return typeof body === 'string' ? body : new TextDecoder().decode(bytesOf(body));
}

function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!s) {
    throw new AstrDeskError(
      'Web Crypto (crypto.subtle) is not available here; in a browser it needs a secure context (https)',
    );
  }
  return s;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The hex HMAC-SHA256 of `"<timestampSec>." + body` under `secret`. */
async function computeSignature(
  secret: string,
  body: WebhookBody,
  timestampSec: number,
): Promise<string> {
  const s = subtle();
  const key = await s.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const prefix = encoder.encode(`${timestampSec}.`);
  const bytes = bytesOf(body);
  const message = new Uint8Array(prefix.length + bytes.length);
  message.set(prefix, 0);
  message.set(bytes, prefix.length);
  return hex(await s.sign('HMAC', key, message));
}

/**
 * Compares two strings in time that depends only on their length (public: a digest is 64 hex
 * characters), never stopping at the first difference.
 */
function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** `t` and every `v1` of a signature header. Unknown keys are ignored. */
function parseHeader(header: string): { timestamp: number; signatures: string[] } {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) {
        throw new WebhookVerificationError(
          'invalid_header',
          `The ${WEBHOOK_SIGNATURE_HEADER} header has a missing, repeated or malformed timestamp`,
        );
      }
      timestamp = Number(value);
    } else if (key === 'v1') {
      signatures.push(value);
    }
  }
  if (timestamp === undefined) {
    throw new WebhookVerificationError(
      'invalid_header',
      `The ${WEBHOOK_SIGNATURE_HEADER} header has no timestamp (t=...)`,
    );
  }
  if (signatures.length === 0) {
    throw new WebhookVerificationError(
      'no_signature',
      `The ${WEBHOOK_SIGNATURE_HEADER} header has no v1 signature`,
    );
  }
  return { timestamp, signatures };
}

function isEnvelope(v: unknown): v is EventEnvelope {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.seq === 'number' &&
    typeof e.id === 'string' &&
    typeof e.type === 'string' &&
    typeof e.data === 'object' &&
    e.data !== null &&
    typeof e.created_at === 'string'
  );
}

/**
 * Checks that a webhook request comes from AstrDesk and returns its event. Throws
 * {@link WebhookVerificationError} when the header is missing or malformed, no `v1` signature
 * matches `rawBody` under `secret`, or the signed timestamp is more than `toleranceSec` from
 * `now`. Pass the body exactly as received, before any JSON parsing.
 *
 * @example
 * // Express: app.post('/hooks/astrdesk', express.raw({ type: 'application/json' }), ...)
 * const event = await verifyWebhook(req.body, req.headers['astrdesk-signature'], secret);
 */
export async function verifyWebhook(
  rawBody: WebhookBody,
  signatureHeader: string | readonly string[] | null | undefined,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<EventEnvelope> {
  if (typeof secret !== 'string' || secret === '') {
    throw new WebhookVerificationError('missing_secret', 'No webhook signing secret was given');
  }
  const header = Array.isArray(signatureHeader)
    ? signatureHeader.join(',')
    : (signatureHeader as string | null | undefined);
  if (typeof header !== 'string' || header.trim() === '') {
    throw new WebhookVerificationError(
      'missing_header',
      `The request has no ${WEBHOOK_SIGNATURE_HEADER} header`,
    );
  }
  const tolerance = options.toleranceSec ?? DEFAULT_WEBHOOK_TOLERANCE_SEC;
  if (!(typeof tolerance === 'number' && tolerance >= 0)) {
    throw new AstrDeskError(`toleranceSec must be a non-negative number, got ${tolerance}`);
  }
  const { timestamp, signatures } = parseHeader(header);

  const expected = await computeSignature(secret, rawBody, timestamp);
  let matched = false;
  for (const candidate of signatures) {
    // Every entry is compared, even after a match: no early exit.
    if (timingSafeEqual(expected, candidate.toLowerCase())) matched = true;
  }
  if (!matched) {
    throw new WebhookVerificationError(
      'signature_mismatch',
      'No signature matches the body and secret: check that the body is the raw one and the secret that of this endpoint',
    );
  }

  const nowMs = options.now instanceof Date ? options.now.getTime() : (options.now ?? Date.now());
  const age = Math.floor(nowMs / 1000) - timestamp;
  if (Math.abs(age) > tolerance) {
    throw new WebhookVerificationError(
      'timestamp_out_of_tolerance',
      `The signature's timestamp is ${Math.abs(age)} s ${age > 0 ? 'old' : 'in the future'}; the tolerance is ${tolerance} s`,
    );
  }

  let event: unknown;
  try {
    event = JSON.parse(textOf(rawBody));
  } catch (err) {
    throw new WebhookVerificationError('invalid_payload', 'The webhook body is not JSON', {
      cause: err,
    });
  }
  if (!isEnvelope(event)) {
    throw new WebhookVerificationError(
      'invalid_payload',
      'The webhook body is not an event envelope { seq, id, type, data, created_at }',
    );
  }
  return event;
}

/**
 * The `AstrDesk-Signature` header value AstrDesk would send with `rawBody` at `timestampSec`
 * (default: now). For tests of your webhook handler.
 *
 * @example
 * const header = await signWebhook(JSON.stringify(event), 'whsec_test', Math.floor(Date.now() / 1000));
 */
export async function signWebhook(
  rawBody: WebhookBody,
  secret: string,
  timestampSec: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) {
    throw new AstrDeskError('timestampSec must be a non-negative integer (unix seconds)');
  }
  if (typeof secret !== 'string' || secret === '') {
    throw new AstrDeskError('No webhook signing secret was given');
  }
  return `t=${timestampSec},v1=${await computeSignature(secret, rawBody, timestampSec)}`;
}

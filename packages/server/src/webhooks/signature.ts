/**
 * Webhook signatures: `AstrDesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, where the
 * HMAC key is the endpoint's whole secret string (`whsec_...`, UTF-8) and the message is
 * `"<t>." + <raw request body>`. The timestamp is signed too, so a captured request cannot be
 * replayed later than the receiver's tolerance. Several `v1=` entries may appear (a receiver
 * accepts the request when any matches), which leaves room for overlapping secrets.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far (seconds) a signature's timestamp may be from the receiver's clock by default. */
export const DEFAULT_TOLERANCE_SEC = 300;

type Body = string | Uint8Array;

/** The hex HMAC-SHA256 of `"<timestampSec>." + body` under `secret`. */
export function computeSignature(secret: string, body: Body, timestampSec: number): string {
  return createHmac('sha256', secret).update(`${timestampSec}.`).update(body).digest('hex');
}

/**
 * The `AstrDesk-Signature` header value for `body` sent at `timestampSec`.
 *
 * @example signPayload('whsec_...', '{"id":"evt_..."}', 1767261600) // 't=1767261600,v1=5f0c…'
 */
export function signPayload(secret: string, body: Body, timestampSec: number): string {
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0)
    throw new RangeError('timestampSec must be a non-negative integer (unix seconds)');
  return `t=${timestampSec},v1=${computeSignature(secret, body, timestampSec)}`;
}

/** `t` and every `v1` of a header; null when it has no usable timestamp. Unknown keys are ignored. */
export function parseSignatureHeader(
  header: string,
): { timestamp: number; signatures: string[] } | null {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) return null;
      timestamp = Number(value);
    } else if (key === 'v1') {
      signatures.push(value);
    }
  }
  return timestamp === undefined ? null : { timestamp, signatures };
}

export interface VerifyOptions {
  /** Maximum distance (seconds) between the signed timestamp and `now`; default 300. */
  toleranceSec?: number;
  /** The receiver's clock in milliseconds (default `Date.now()`). */
  now?: number;
}

/**
 * True when `header` carries a `v1` signature of `rawBody` under `secret` whose timestamp is
 * within `toleranceSec` of `now`. Compares in constant time. Pass the body exactly as
 * received (before any JSON parsing).
 */
export function verifySignature(
  rawBody: Body,
  header: string | null | undefined,
  secret: string,
  opts: VerifyOptions = {},
): boolean {
  if (!header || !secret) return false;
  const parsed = parseSignatureHeader(header);
  if (!parsed || parsed.signatures.length === 0) return false;
  const tolerance = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  const nowSec = Math.floor((opts.now ?? Date.now()) / 1000);
  if (Math.abs(nowSec - parsed.timestamp) > tolerance) return false;
  const expected = Buffer.from(computeSignature(secret, rawBody, parsed.timestamp), 'hex');
  let ok = false;
  for (const candidate of parsed.signatures) {
    if (!/^[0-9a-fA-F]{64}$/.test(candidate)) continue;
    // No early exit: every entry is compared.
    if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) ok = true;
  }
  return ok;
}

import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
const lastRand = new Uint8Array(16);

/**
 * A time-ordered, globally unique id: `prefix_` + 10 chars of milliseconds + 16 random chars,
 * Crockford base 32 (the same layout as the server's ids). Within one millisecond the random
 * part is incremented, so ids made by this process sort in the order they were made.
 *
 * @example newEventId() // 'sc_01JD3Y0M5Q8W2K7T4F9XG1B6CE'
 */
export function newId(prefix: string, now = Date.now()): string {
  let t = now;
  if (t <= lastTime) {
    t = lastTime;
    let i = 15;
    while (i >= 0 && lastRand[i] === 31) lastRand[i--] = 0;
    if (i >= 0) lastRand[i]! += 1;
  } else {
    lastTime = t;
    const bytes = randomBytes(16);
    // Top bit clear leaves room to increment many times within one millisecond.
    for (let i = 0; i < 16; i++) lastRand[i] = bytes[i]! & (i === 0 ? 15 : 31);
  }
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rand = '';
  for (let i = 0; i < 16; i++) rand += CROCKFORD[lastRand[i]!];
  return `${prefix}_${time}${rand}`;
}

/** Id of an outbox event: stable from the moment it is written, so ingest can dedupe on it. */
export const newEventId = (now?: number) => newId('sc', now);

const REQUEST_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let requestCounter = 0;

/** A cheap per-process unique request id (no clock, no randomness per call). */
export function newRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${REQUEST_PREFIX}${requestCounter.toString(36).padStart(6, '0')}`;
}

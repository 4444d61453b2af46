/** Prefixes of every id the API issues. Ids are `prefix + 26 Crockford base32 chars`, time-ordered. */
export const ID_PREFIXES = {
  tenant: 'tnt',
  member: 'usr',
  session: 'ses',
  apiKey: 'key',
  operator: 'opr',
  request: 'req',
  event: 'evt',
  conversation: 'conv',
  message: 'msg',
  contact: 'ct',
  instance: 'inst',
  blacklist: 'bl',
  asr: 'asr',
  invite: 'inv',
  delivery: 'dlv',
  webhookEndpoint: 'we',
  webhookDelivery: 'whd',
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

/** Secret token prefixes: a token says what it is, so auth can route it without a lookup. */
export const TOKEN_PREFIXES = {
  apiKey: 'adk_',
  session: 'ads_',
  operator: 'ado_',
  instance: 'adi_',
  invite: 'adv_',
} as const;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
const lastRand = new Uint8Array(16);
/** Random bytes drawn 4 KiB at a time: one draw per millisecond costs more than the id itself. */
const pool = new Uint8Array(4096);
let poolAt = pool.length;

/**
 * A prefixed, time-ordered id: `prefix_` + 10 Crockford base32 chars of millisecond time + 16
 * random ones (the ULID layout), so ids sort by creation and keyset pagination can use them.
 * Ids made in the same millisecond by one process increase: the random part is incremented.
 * Randomness comes from Web Crypto (`crypto.getRandomValues`: Node ≥ 19 and browsers).
 *
 * @example monotonicId('sc') // 'sc_01JD3Y0M5Q8W2K7T4F9XG1B6CE'
 * @example monotonicId(ID_PREFIXES.tenant) // 'tnt_01JD3Y0M5Q…'
 */
export function monotonicId(prefix: string, now = Date.now()): string {
  let t = now;
  if (t <= lastTime) {
    t = lastTime;
    let i = 15;
    while (i >= 0 && lastRand[i] === 31) lastRand[i--] = 0;
    if (i >= 0) lastRand[i]! += 1;
  } else {
    lastTime = t;
    if (poolAt + 16 > pool.length) {
      globalThis.crypto.getRandomValues(pool);
      poolAt = 0;
    }
    // Top bits of the first char clear leave room to increment many times within one millisecond.
    for (let i = 0; i < 16; i++) lastRand[i] = pool[poolAt + i]! & (i === 0 ? 15 : 31);
    poolAt += 16;
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

/** What a caller's `x-request-id` may be to be kept (a sane token, so traces join up). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

// Request ids need to be unique, not secret or time-ordered: a random per-process prefix and a
// counter cost nothing per request, where a random id costs a CSPRNG call.
const REQUEST_PREFIX = `req_${Array.from(
  globalThis.crypto.getRandomValues(new Uint8Array(6)),
  (b) => b.toString(16).padStart(2, '0'),
).join('')}`;
let requestCounter = 0;

/** A new request id, unique across processes (`req_` + 12 random hex + a base-36 counter). */
export function newRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${REQUEST_PREFIX}${requestCounter.toString(36).padStart(6, '0')}`;
}

/**
 * The id of a request: the caller's `x-request-id` when it matches {@link REQUEST_ID_PATTERN},
 * else a new one.
 *
 * @example requestIdFrom('trace-42') // 'trace-42'
 * @example requestIdFrom('bad id!') // 'req_3f9a0c1b2d4e000001'
 */
export function requestIdFrom(header: string | string[] | null | undefined): string {
  return typeof header === 'string' && REQUEST_ID_PATTERN.test(header) ? header : newRequestId();
}

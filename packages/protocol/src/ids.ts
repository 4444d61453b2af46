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

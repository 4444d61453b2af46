/**
 * The sidecar's in-memory blacklist index: an open-addressing hash table over one
 * `Int32Array`, keyed on (platform, user id), holding one value per key.
 *
 * Why not a `Map`: at a million entries a `Map` probe walks three or four heap objects (bucket,
 * chain entry, key string, its characters), each a likely cache and TLB miss, which put a lookup
 * at 300–550 ns on the benchmark machine. Here a probe reads one 12-byte slot of a flat array:
 *
 * - A numeric user id of up to 22 digits (QQ, Telegram, Discord, KOOK, …) whose platform has
 *   one of the first 255 platform codes is **packed exactly** into the slot's three words
 *   (length, platform code and the digits in chunks), so equal words mean equal keys and a hit
 *   needs no string comparison.
 * - Any other key (letters, longer ids, more platforms) is stored as a fingerprint (two 32-bit
 *   hashes) and confirmed on a fingerprint match by comparing the stored key's strings, so the
 *   table is exact for every key; only those hits pay for the extra reads.
 *
 * Expiry times sit in a parallel `Float64Array`, read only for values that can expire (a flag
 * bit in the slot). Deletion shifts the following cluster back (no tombstones), so a lookup
 * never scans more than the current cluster.
 *
 * @example
 * const t = new EntryTable();
 * t.set({ id: 'bl_1', platform: 'qq', platform_user_id: '10001', expires_at: null });
 * t.get('qq', '10001', Date.now()); // → that entry
 * t.get('telegram', '10001', Date.now()); // → undefined
 */
export class EntryTable<V extends TableEntry = TableEntry> {
  /** Three words per slot; word 0 is 0 for an empty slot. */
  #words: Int32Array;
  #expires: Float64Array;
  /** The entry of each slot; its key strings confirm a fingerprint match. */
  #values: (V | undefined)[];
  #capacity: number;
  #size = 0;
  /** Platform string → code 1…255 used by packed keys (assigned on first insert). */
  readonly #codes = new Map<string, number>();

  /** `expected`: how many keys it will hold (sizes the table once instead of growing). */
  constructor(expected = 0) {
    this.#capacity = capacityFor(expected);
    this.#words = new Int32Array(this.#capacity * 3);
    this.#expires = new Float64Array(this.#capacity);
    this.#values = new Array<V | undefined>(this.#capacity).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  /**
   * The value for (platform, user id) unless it has expired at `now` (an expiry equal to `now`
   * counts as expired). `now` is read only when the value can expire.
   */
  get(platform: string, userId: string, now: number | (() => number)): V | undefined {
    const slot = this.#find(this.#codes.get(platform) ?? 0, platform, userId);
    if (slot < 0) return undefined;
    if (this.#words[slot * 3]! & FLAG_EXPIRES) {
      const at = typeof now === 'number' ? now : now();
      if (this.#expires[slot]! <= at) return undefined;
    }
    return this.#values[slot];
  }

  /** Whether the key is present, expired or not. */
  has(platform: string, userId: string): boolean {
    return this.#find(this.#codes.get(platform) ?? 0, platform, userId) >= 0;
  }

  /**
   * Puts the entry under its (platform, user id), replacing that key's previous entry. Its
   * `expires_at` (epoch milliseconds, or null) is copied into the table: change an entry by
   * setting a new object. Returns 1 when the key is new, else 0.
   */
  set(value: V): 0 | 1 {
    const platform = value.platform;
    const userId = value.platform_user_id;
    const expiresAt = value.expires_at;
    // Grown first: the slot #find leaves in HOME belongs to the current arrays.
    if (this.#size + 1 > this.#capacity * MAX_LOAD) this.#grow();
    let slot = this.#find(this.#codeFor(platform), platform, userId);
    let added: 0 | 1 = 0;
    if (slot < 0) {
      // #find left the key's words and the empty slot that ended its probe behind.
      slot = this.#insertWords(K0, K1, K2, HOME);
      this.#size++;
      added = 1;
    }
    const w = slot * 3;
    if (expiresAt === null) this.#words[w] = this.#words[w]! & ~FLAG_EXPIRES;
    else {
      this.#words[w] = this.#words[w]! | FLAG_EXPIRES;
      this.#expires[slot] = expiresAt;
    }
    this.#values[slot] = value;
    return added;
  }

  /** Removes the key; true when it was present. */
  delete(platform: string, userId: string): boolean {
    const slot = this.#find(this.#codes.get(platform) ?? 0, platform, userId);
    if (slot < 0) return false;
    this.#removeSlot(slot);
    this.#size--;
    return true;
  }

  /** Every value (expired ones included), in slot order. */
  *values(): IterableIterator<V> {
    const words = this.#words;
    for (let s = 0; s < this.#capacity; s++) if (words[s * 3] !== 0) yield this.#values[s]!;
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * The slot holding the key, or -1. Either way leaves the key's words in K0–K2 and, when
   * absent, the empty slot that ends its probe in HOME (for an insert right after).
   */
  #find(code: number, platform: string, userId: string): number {
    keyWords(code, platform, userId);
    const words = this.#words;
    const cap = this.#capacity;
    const k0 = K0;
    const k1 = K1;
    const k2 = K2;
    let s = home(k0, k1, k2, cap);
    for (let probes = 0; probes < cap; probes++) {
      const w = s * 3;
      const w0 = words[w]!;
      if (w0 === 0) {
        HOME = s;
        return -1;
      }
      if ((w0 & ~FLAG_EXPIRES) === k0 && words[w + 1] === k1 && words[w + 2] === k2) {
        // Packed keys are exact; a fingerprint match is confirmed on the strings.
        if (k0 & FLAG_PACKED) return s;
        const e = this.#values[s]!;
        if (e.platform_user_id === userId && e.platform === platform) return s;
      }
      s = s + 1 === cap ? 0 : s + 1;
    }
    throw new Error('EntryTable: no empty slot (load factor invariant broken)');
  }

  /** Writes key words into the free slot `s` and returns it. */
  #insertWords(k0: number, k1: number, k2: number, s: number): number {
    const w = s * 3;
    this.#words[w] = k0;
    this.#words[w + 1] = k1;
    this.#words[w + 2] = k2;
    return s;
  }

  /**
   * Empties `slot` and shifts back the entries after it that would otherwise become
   * unreachable (their probe started at or before the hole).
   */
  #removeSlot(slot: number): void {
    const words = this.#words;
    const cap = this.#capacity;
    let hole = slot;
    let s = slot;
    for (let n = 0; n < cap; n++) {
      s = s + 1 === cap ? 0 : s + 1;
      const w = s * 3;
      const w0 = words[w]!;
      if (w0 === 0) break;
      const h = home(w0 & ~FLAG_EXPIRES, words[w + 1]!, words[w + 2]!, cap);
      // Move s into the hole when its home is not in (hole, s] (cyclically).
      const reachable = hole <= s ? h > hole && h <= s : h > hole || h <= s;
      if (reachable) continue;
      this.#moveSlot(s, hole);
      hole = s;
    }
    this.#clearSlot(hole);
  }

  #moveSlot(from: number, to: number): void {
    const words = this.#words;
    words[to * 3] = words[from * 3]!;
    words[to * 3 + 1] = words[from * 3 + 1]!;
    words[to * 3 + 2] = words[from * 3 + 2]!;
    this.#expires[to] = this.#expires[from]!;
    this.#values[to] = this.#values[from];
  }

  #clearSlot(s: number): void {
    this.#words[s * 3] = 0;
    this.#words[s * 3 + 1] = 0;
    this.#words[s * 3 + 2] = 0;
    this.#values[s] = undefined;
  }

  /** Doubles the capacity, moving every slot by its stored words (no string is rehashed). */
  #grow(): void {
    const old = {
      words: this.#words,
      expires: this.#expires,
      values: this.#values,
      capacity: this.#capacity,
    };
    const cap = this.#capacity * 2;
    this.#capacity = cap;
    this.#words = new Int32Array(cap * 3);
    this.#expires = new Float64Array(cap);
    this.#values = new Array<V | undefined>(cap).fill(undefined);
    for (let s = 0; s < old.capacity; s++) {
      const w0 = old.words[s * 3]!;
      if (w0 === 0) continue;
      const w1 = old.words[s * 3 + 1]!;
      const w2 = old.words[s * 3 + 2]!;
      let t = home(w0 & ~FLAG_EXPIRES, w1, w2, cap);
      while (this.#words[t * 3] !== 0) t = t + 1 === cap ? 0 : t + 1;
      this.#insertWords(w0, w1, w2, t);
      this.#expires[t] = old.expires[s]!;
      this.#values[t] = old.values[s];
    }
  }

  /**
   * The platform's code for packed keys, assigned on its first insert and kept for the
   * table's life, so a key is always encoded the same way (0 once all 255 are taken: that
   * platform's keys are fingerprinted, also for good).
   */
  #codeFor(platform: string): number {
    let code = this.#codes.get(platform);
    if (code === undefined) {
      code = this.#codes.size < 255 ? this.#codes.size + 1 : 0;
      if (code !== 0) this.#codes.set(platform, code);
    }
    return code;
  }
}

/** What the table needs of an entry: its key and when it stops counting. */
export interface TableEntry {
  platform: string;
  platform_user_id: string;
  /** Epoch milliseconds, or null for an entry that does not expire. */
  expires_at: number | null;
}

// Slot word 0 (never 0 when used): bit 0 used, bit 1 packed, bit 2 can expire; for a packed key
// bits 3–7 the digit count, 8–15 the platform code, 16–29 the leading (up to 4) digits; for a
// fingerprinted key bits 3–31 are hash bits. Words 1 and 2: the 9-digit chunks, or hash words.
const FLAG_USED = 1;
const FLAG_PACKED = 2;
const FLAG_EXPIRES = 4;
const MAX_LOAD = 0.7;
const MIN_CAPACITY = 16;

/** Scratch output of {@link keyWords} and of `#find` (one thread; no allocation per probe). */
let K0 = 0;
let K1 = 0;
let K2 = 0;
let HOME = 0;

function capacityFor(expected: number): number {
  let cap = MIN_CAPACITY;
  while (expected > cap * MAX_LOAD) cap *= 2;
  return cap;
}

/**
 * Computes the slot words of a key into K0–K2: packed when the user id is 1–22 ASCII digits
 * and the platform has a code, else a fingerprint of the platform and user id.
 */
function keyWords(code: number, platform: string, userId: string): void {
  const n = userId.length;
  if (code !== 0 && n > 0 && n <= 22) {
    // Digits from the right: the last 9 into K2, the 9 before into K1, the rest (≤ 4) into top.
    let lo = 0;
    let mid = 0;
    let top = 0;
    let i = 0;
    for (; i < n; i++) {
      const d = userId.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      const fromEnd = n - i; // 22…1
      if (fromEnd > 18) top = top * 10 + d;
      else if (fromEnd > 9) mid = mid * 10 + d;
      else lo = lo * 10 + d;
    }
    if (i === n) {
      K0 = FLAG_USED | FLAG_PACKED | (n << 3) | (code << 8) | (top << 16);
      K1 = mid;
      K2 = lo;
      return;
    }
  }
  let a = 0x811c9dc5;
  let b = 0x2545f491;
  for (let i = 0; i < platform.length; i++) {
    const c = platform.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  a = Math.imul(a ^ 0x10000, 0x01000193);
  b = Math.imul(b ^ 0x10000, 0x5bd1e995);
  for (let i = 0; i < n; i++) {
    const c = userId.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  a = fmix(a);
  b = fmix(b ^ 0x9e3779b9);
  K0 = FLAG_USED | (fmix(a ^ b) & ~7);
  K1 = a;
  K2 = b;
}

/** Murmur3's finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The slot a key's probe starts at (`cap` is a power of two). */
function home(k0: number, k1: number, k2: number, cap: number): number {
  return fmix(k0 ^ Math.imul(k1, 0x9e3779b1) ^ Math.imul(k2 ^ 0x7f4a7c15, 0x85ebca77)) & (cap - 1);
}

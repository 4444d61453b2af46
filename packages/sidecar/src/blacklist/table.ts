/**
 * The sidecar's in-memory blacklist index, keyed on (platform, user id), one entry per key.
 *
 * Why not just a `Map`: at a million entries a `Map` probe walks three or four heap objects
 * (bucket, chain entry, key string, its characters), each a likely cache and TLB miss, which
 * put a lookup at 300–550 ns on the benchmark machine. Most platforms AstrBot serves give
 * numeric user ids (QQ, Telegram, Discord, KOOK, …), and those fit in a slot of a flat array:
 *
 * - A user id of 1–22 ASCII digits, on a platform among the first 255 the table has seen, is
 *   **packed exactly** into three 32-bit words (digit count, platform code, the digits in
 *   chunks) in an open-addressing table over one `Int32Array`. Equal words mean equal keys, so
 *   a probe reads one 12-byte slot and compares no string.
 * - Every other key (letters, longer ids) goes to a `Map` per platform, which hashes strings
 *   natively; a fingerprint table in JS would hash them slower and then still have to compare
 *   the strings.
 *
 * Expiry times of packed entries sit in a parallel `Float64Array`, read only for entries that
 * can expire (a flag bit in the slot). Deletion shifts the following cluster back (no
 * tombstones), so a probe never scans past the end of its cluster.
 *
 * @example
 * const t = new EntryTable();
 * t.set({ platform: 'qq', platform_user_id: '10001', expires_at: null });
 * t.get('qq', '10001', Date.now()); // → that entry
 * t.get('telegram', '10001', Date.now()); // → undefined
 */
export class EntryTable<V extends TableEntry = TableEntry> {
  /** Three words per slot; word 0 is 0 for an empty slot. */
  #words: Int32Array;
  #expires: Float64Array;
  /** The entry of each slot. */
  #values: (V | undefined)[];
  #capacity: number;
  /** Entries in the packed table. */
  #packed = 0;
  /** Keys that do not pack: platform → user id → entry. */
  readonly #other = new Map<string, Map<string, V>>();
  #otherSize = 0;
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
    return this.#packed + this.#otherSize;
  }

  /**
   * The entry for (platform, user id) unless it has expired at `now` (an expiry equal to `now`
   * counts as expired). `now` is read only when the entry can expire.
   */
  get(platform: string, userId: string, now: number | (() => number)): V | undefined {
    if (!packKey(this.#codes.get(platform) ?? 0, userId)) {
      const e = this.#other.get(platform)?.get(userId);
      if (e === undefined || e.expires_at === null) return e;
      return e.expires_at > (typeof now === 'number' ? now : now()) ? e : undefined;
    }
    const slot = this.#find();
    if (slot < 0) return undefined;
    if (this.#words[slot * 3]! & FLAG_EXPIRES) {
      const at = typeof now === 'number' ? now : now();
      if (this.#expires[slot]! <= at) return undefined;
    }
    return this.#values[slot];
  }

  /** Whether the key is present, expired or not. */
  has(platform: string, userId: string): boolean {
    if (!packKey(this.#codes.get(platform) ?? 0, userId))
      return this.#other.get(platform)?.has(userId) ?? false;
    return this.#find() >= 0;
  }

  /**
   * Puts the entry under its (platform, user id), replacing that key's previous entry. Its
   * `expires_at` is read now: change an entry by setting a new object. Returns 1 when the key
   * is new, else 0.
   */
  set(value: V): 0 | 1 {
    const platform = value.platform;
    const userId = value.platform_user_id;
    if (!packKey(this.#codeFor(platform), userId)) {
      let byUser = this.#other.get(platform);
      if (byUser === undefined) {
        byUser = new Map();
        this.#other.set(platform, byUser);
      }
      const before = byUser.size;
      byUser.set(userId, value);
      const added = byUser.size - before;
      this.#otherSize += added;
      return added as 0 | 1;
    }
    // Grown first: the slot #find leaves in HOME belongs to the current arrays.
    if (this.#packed + 1 > this.#capacity * MAX_LOAD) this.#grow();
    let slot = this.#find();
    let added: 0 | 1 = 0;
    if (slot < 0) {
      // #find left the empty slot that ended its probe behind.
      slot = HOME;
      const w = slot * 3;
      this.#words[w] = K0;
      this.#words[w + 1] = K1;
      this.#words[w + 2] = K2;
      this.#packed++;
      added = 1;
    }
    const w = slot * 3;
    if (value.expires_at === null) this.#words[w] = this.#words[w]! & ~FLAG_EXPIRES;
    else {
      this.#words[w] = this.#words[w]! | FLAG_EXPIRES;
      this.#expires[slot] = value.expires_at;
    }
    this.#values[slot] = value;
    return added;
  }

  /** Removes the key; true when it was present. */
  delete(platform: string, userId: string): boolean {
    if (!packKey(this.#codes.get(platform) ?? 0, userId)) {
      const removed = this.#other.get(platform)?.delete(userId) ?? false;
      if (removed) this.#otherSize--;
      return removed;
    }
    const slot = this.#find();
    if (slot < 0) return false;
    this.#removeSlot(slot);
    this.#packed--;
    return true;
  }

  /** Every entry (expired ones included). */
  *values(): IterableIterator<V> {
    const words = this.#words;
    for (let s = 0; s < this.#capacity; s++) if (words[s * 3] !== 0) yield this.#values[s]!;
    for (const byUser of this.#other.values()) yield* byUser.values();
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * The slot holding the key that {@link packKey} just packed into K0–K2, or -1; when absent,
   * the empty slot that ends its probe is left in HOME (for an insert right after).
   */
  #find(): number {
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
      if ((w0 & ~FLAG_EXPIRES) === k0 && words[w + 1] === k1 && words[w + 2] === k2) return s;
      s = s + 1 === cap ? 0 : s + 1;
    }
    throw new Error('EntryTable: no empty slot (load factor invariant broken)');
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
      this.#words[t * 3] = w0;
      this.#words[t * 3 + 1] = w1;
      this.#words[t * 3 + 2] = w2;
      this.#expires[t] = old.expires[s]!;
      this.#values[t] = old.values[s];
    }
  }

  /**
   * The platform's code for packed keys, assigned on its first insert and kept for the
   * table's life, so a key always goes to the same place (0 once all 255 are taken: that
   * platform's keys then all go to the Map, for good).
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

// Slot word 0 (never 0 when used): bit 0 used, bit 1 can expire, bits 2–6 the digit count, 7–14
// the platform code, 15–28 the leading (up to 4) digits. Words 1 and 2: the next two 9-digit
// chunks (each < 2^30).
const FLAG_USED = 1;
const FLAG_EXPIRES = 2;
const MAX_LOAD = 0.7;
const MIN_CAPACITY = 16;

/** Scratch output of {@link packKey} and of `#find` (one thread; no allocation per probe). */
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
 * Packs a key into K0–K2 when the user id is 1–22 ASCII digits and the platform has a code;
 * false (and K0–K2 unspecified) otherwise.
 */
function packKey(code: number, userId: string): boolean {
  const n = userId.length;
  if (code === 0 || n === 0 || n > 22) return false;
  // Digits from the right: the last 9 into K2, the 9 before into K1, the rest (≤ 4) into top.
  let lo = 0;
  let mid = 0;
  let top = 0;
  for (let i = 0; i < n; i++) {
    const d = userId.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    const fromEnd = n - i; // 22…1
    if (fromEnd > 18) top = top * 10 + d;
    else if (fromEnd > 9) mid = mid * 10 + d;
    else lo = lo * 10 + d;
  }
  K0 = FLAG_USED | (n << 2) | (code << 7) | (top << 15);
  K1 = mid;
  K2 = lo;
  return true;
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

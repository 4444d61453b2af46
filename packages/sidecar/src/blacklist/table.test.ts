import { describe, expect, it } from 'vitest';
import { EntryTable } from './table.js';

interface E {
  platform: string;
  platform_user_id: string;
  expires_at: number | null;
  v: string | number;
}

/** An entry with value `v`. */
const entry = (
  platform: string,
  userId: string,
  v: string | number,
  expiresAt: number | null = null,
): E => ({
  platform,
  platform_user_id: userId,
  expires_at: expiresAt,
  v,
});
/** The value of the entry the table answers, if any. */
const val = (e: E | undefined) => e?.v;

/** Deterministic PRNG (mulberry32): every run makes the same operations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NOW = 1_800_000_000_000;

describe('EntryTable', () => {
  it('keeps platform and user id apart, exactly, for packed numeric ids and for the rest', () => {
    const t = new EntryTable<E>();
    const keys: [string, string][] = [
      ['qq', '10001'],
      ['qq', '010001'], // leading zero: another id
      ['qq', '0'],
      ['telegram', '10001'], // same id, other platform
      ['discord', '1234567890123456789'], // 19 digits (packed: top chunk)
      ['discord', '1234567890123456789012'], // 22: the longest packed
      ['discord', '12345678901234567890123'], // 23: too long to pack
      ['wechat', 'wxid_abc'],
      ['wechat', 'wxid_abd'],
      ['line', 'U4af4980629'],
      ['webchat', '访客-42'],
      ['webchat', ''],
      ['ab', 'c'],
      ['a', 'bc'],
    ];
    for (const [i, [p, u]] of keys.entries()) expect(t.set(entry(p, u, `v${i}`, null))).toBe(1);
    expect(t.size).toBe(keys.length);
    for (const [i, [p, u]] of keys.entries()) expect(val(t.get(p, u, NOW))).toBe(`v${i}`);
    for (const [p, u] of [
      ['qq', '1001'],
      ['qq', '100010'],
      ['qq', '00'],
      ['discord', '1234567890123456788'],
      ['discord', '12345678901234567890124'],
      ['wechat', 'wxid_ab'],
      ['webchat', '访客-43'],
      ['kook', '10001'],
      ['abc', ''],
    ] as const)
      expect(val(t.get(p, u, NOW)), `${p}/${u}`).toBeUndefined();
    expect(t.set(entry('qq', '10001', 'again', null))).toBe(0);
    expect(val(t.get('qq', '10001', NOW))).toBe('again');
    expect(t.size).toBe(keys.length);
  });

  it('checks expiry against the time given, reading the clock only for values that expire', () => {
    const t = new EntryTable<E>();
    t.set(entry('qq', '1', 'forever', null));
    t.set(entry('qq', '2', 'until', NOW + 1000));
    t.set(entry('wechat', 'wxid_x', 'until', NOW + 1000));
    let reads = 0;
    const clock = () => {
      reads++;
      return NOW;
    };
    expect(val(t.get('qq', '1', clock))).toBe('forever');
    expect(reads).toBe(0);
    expect(val(t.get('qq', '2', clock))).toBe('until');
    expect(reads).toBe(1);
    expect(val(t.get('qq', '2', NOW + 1000))).toBeUndefined(); // expiry equal to now: expired
    expect(val(t.get('wechat', 'wxid_x', NOW + 999))).toBe('until');
    expect(val(t.get('wechat', 'wxid_x', NOW + 1000))).toBeUndefined();
    expect(t.has('qq', '2')).toBe(true); // still held; only the lookup filters it
    // A new value without expiry clears the flag; one with it sets it again.
    t.set(entry('qq', '2', 'forever now', null));
    expect(val(t.get('qq', '2', NOW + 10_000))).toBe('forever now');
    t.set(entry('qq', '1', 'soon', NOW - 1));
    expect(val(t.get('qq', '1', NOW))).toBeUndefined();
  });

  it('matches a Map through 20,000 random sets and deletes, growing from the smallest size', () => {
    const r = rng(42);
    const t = new EntryTable<E>();
    const ref = new Map<string, { v: number; exp: number | null }>();
    const platforms = ['qq', 'telegram', 'wechat', 'discord', 'x'];
    const userFor = (): string => {
      const k = Math.floor(r() * 400); // a small key space: many replaces and deletes
      switch (k % 4) {
        case 0:
          return String(k);
        case 1:
          return `0${k}`;
        case 2:
          return `u_${k}`;
        default:
          return '9'.repeat(15 + (k % 10)) + String(k); // 17–27 digits: packed and not
      }
    };
    for (let i = 0; i < 20_000; i++) {
      const p = platforms[Math.floor(r() * platforms.length)]!;
      const u = userFor();
      const key = `${p}\0${u}`;
      if (r() < 0.35) {
        expect(t.delete(p, u)).toBe(ref.delete(key));
      } else {
        const exp = r() < 0.3 ? NOW + Math.floor(r() * 2000) - 1000 : null;
        expect(t.set(entry(p, u, i, exp))).toBe(ref.has(key) ? 0 : 1);
        ref.set(key, { v: i, exp });
      }
      expect(t.size).toBe(ref.size);
      if (i % 997 === 0) {
        // Every key of the space answers as the reference does.
        for (const pp of platforms)
          for (let k = 0; k < 400; k += 7) {
            for (const uu of [String(k), `0${k}`, `u_${k}`]) {
              const e = ref.get(`${pp}\0${uu}`);
              const want = e && (e.exp === null || e.exp > NOW) ? e.v : undefined;
              expect(val(t.get(pp, uu, NOW))).toBe(want);
            }
          }
      }
    }
    for (const [key, e] of ref) {
      const [p, u] = key.split('\0') as [string, string];
      expect(t.has(p, u)).toBe(true);
      expect(val(t.get(p, u, NOW))).toBe(e.exp === null || e.exp > NOW ? e.v : undefined);
    }
    expect([...t.values()].map((e) => e.v as number).sort((a, b) => a - b)).toEqual(
      [...ref.values()].map((e) => e.v).sort((a, b) => a - b),
    );
  });

  it('stays exact when more than 255 platforms use up the packed codes', () => {
    const t = new EntryTable<E>();
    for (let i = 0; i < 300; i++) t.set(entry(`p${i}`, '12345', `v${i}`, null));
    for (let i = 0; i < 300; i++) expect(val(t.get(`p${i}`, '12345', NOW))).toBe(`v${i}`);
    expect(val(t.get('p300', '12345', NOW))).toBeUndefined();
    for (let i = 0; i < 300; i += 2) expect(t.delete(`p${i}`, '12345')).toBe(true);
    for (let i = 0; i < 300; i++)
      expect(val(t.get(`p${i}`, '12345', NOW))).toBe(i % 2 ? `v${i}` : undefined);
    expect(t.size).toBe(150);
  });

  it('delete keeps the rest of a probe cluster reachable', () => {
    // A table sized for 10,000 and filled to 70%: clusters are long, so deletes shift entries.
    const t = new EntryTable<E>(10);
    const n = 11;
    for (let i = 0; i < n; i++) t.set(entry('qq', String(i), i, null));
    for (let round = 0; round < n; round++) {
      expect(t.delete('qq', String(round))).toBe(true);
      for (let i = 0; i < n; i++)
        expect(val(t.get('qq', String(i), NOW))).toBe(i > round ? i : undefined);
    }
    expect(t.size).toBe(0);
    expect([...t.values()]).toEqual([]);
  });
});

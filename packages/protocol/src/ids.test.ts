import { describe, expect, it } from 'vitest';
import { ID_PREFIXES, monotonicId, newRequestId, requestIdFrom } from './ids.js';

const SHAPE = /^tnt_[0-9A-HJKMNP-TV-Z]{26}$/;

describe('monotonicId', () => {
  it('is prefix_ + 26 Crockford chars, the first 10 the millisecond time', () => {
    const id = monotonicId(ID_PREFIXES.tenant, Date.UTC(2026, 0, 1));
    expect(id).toMatch(SHAPE);
    expect(id.slice(4, 14)).toBe('01KDVDNA00');
  });

  it('increases within one millisecond and across milliseconds, and never repeats', () => {
    const t0 = Date.UTC(2030, 0, 1);
    const ids: string[] = [];
    // 1,000 ids in one millisecond, then one in each of 600 later ones (more than one pool of
    // random bytes: 4 KiB / 16 per millisecond = 256).
    for (let i = 0; i < 1000; i++) ids.push(monotonicId('tnt', t0));
    for (let ms = 1; ms <= 600; ms++) ids.push(monotonicId('tnt', t0 + ms));
    for (const id of ids) expect(id).toMatch(SHAPE);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // A clock that steps back keeps the order (the last time is reused).
    const after = monotonicId('tnt', t0);
    expect(after > ids.at(-1)!).toBe(true);
  });

  it('draws fresh randomness for each new millisecond', () => {
    const t0 = Date.UTC(2031, 0, 1);
    const rand = new Set<string>();
    for (let ms = 0; ms < 300; ms++) rand.add(monotonicId('x', t0 + ms).slice(-16));
    expect(rand.size).toBe(300);
  });
});

describe('requestIdFrom', () => {
  it("keeps a caller's sane x-request-id and makes a new unique one otherwise", () => {
    expect(requestIdFrom('trace-42:a.b_c')).toBe('trace-42:a.b_c');
    const made = ['bad id!', '', 'x'.repeat(129), undefined, null, ['a', 'b']].map((h) =>
      requestIdFrom(h),
    );
    for (const id of made) expect(id).toMatch(/^req_[0-9a-f]{12}[0-9a-z]{6,}$/);
    const more = Array.from({ length: 1000 }, () => newRequestId());
    expect(new Set([...made, ...more]).size).toBe(made.length + more.length);
  });
});

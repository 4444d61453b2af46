import { describe, expect, it } from 'vitest';
import { AstrDeskError } from '../error.js';
import {
  backoffDelayMs,
  buildQuery,
  mergeHeaders,
  parseRetryAfterMs,
  path,
  uuid4,
} from './utils.js';

describe('backoffDelayMs', () => {
  it('doubles from 0.5 s up to 8 s, with full jitter below the ceiling', () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 4, 5, 10].map((r) => backoffDelayMs(r, top))).toEqual([
      499, 999, 1999, 3999, 7999, 7999, 7999,
    ]);
    expect(backoffDelayMs(3, () => 0)).toBe(0);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelayMs(2);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(2000);
    }
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    [{ 'retry-after': '2' }, 2000],
    [{ 'retry-after': '0.5' }, 500],
    [{ 'retry-after-ms': '120' }, 120],
    [{ 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }, 10_000],
    [{ 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }, 0],
    [{ 'retry-after': 'soon' }, undefined],
    [{ 'retry-after': '-1' }, undefined],
    [{}, undefined],
  ])('%o → %s', (headers, expected) => {
    expect(parseRetryAfterMs(new Headers(headers), now)).toBe(expected);
  });
});

describe('path', () => {
  it('encodes every parameter', () => {
    expect(path`/v1/members/${'usr_1'}`).toBe('/v1/members/usr_1');
    expect(path`/v1/a/${'x/y'}/b/${'é ?'}`).toBe('/v1/a/x%2Fy/b/%C3%A9%20%3F');
    expect(path`/v1/a/${'a.b'}`).toBe('/v1/a/a.b');
  });

  it('rejects empty or non-string parameters', () => {
    expect(() => path`/v1/members/${''}`).toThrow(AstrDeskError);
    expect(() => path`/v1/members/${undefined}`).toThrow(AstrDeskError);
    expect(() => path`/v1/members/${42}`).toThrow(AstrDeskError);
    expect(() => path`/v1/members/${'.'}`).toThrow(AstrDeskError);
    expect(() => path`/v1/members/${'..'}`).toThrow(AstrDeskError);
  });
});

describe('buildQuery', () => {
  it('skips unset values and formats the rest', () => {
    expect(buildQuery(undefined)).toBe('');
    expect(buildQuery({ a: undefined, b: null })).toBe('');
    expect(
      buildQuery({ limit: 5, cursor: 'a b', at: new Date(0), ok: true, tag: ['x', 'y'] }),
    ).toBe('?limit=5&cursor=a+b&at=1970-01-01T00%3A00%3A00.000Z&ok=true&tag=x&tag=y');
  });
});

describe('mergeHeaders', () => {
  it('is case-insensitive; null removes, undefined is ignored', () => {
    expect(
      mergeHeaders(
        { 'Content-Type': 'a', 'X-A': '1' },
        { 'content-type': 'b', 'x-a': null },
        { 'X-B': undefined },
      ),
    ).toEqual({
      'content-type': 'b',
    });
  });
});

describe('uuid4', () => {
  it('returns distinct v4 UUIDs', () => {
    const a = uuid4();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuid4()).not.toBe(a);
  });
});

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSignatureHeader, signPayload, verifySignature } from './signature.js';

const secret = 'whsec_test_secret_0123456789';
const body =
  '{"seq":1,"id":"evt_1","type":"message.created","data":{},"created_at":"2026-01-01T10:00:00.000Z"}';
const ts = 1_767_261_600;
const now = ts * 1000;

describe('webhook signatures', () => {
  it('signs as t=<ts>,v1=<hex HMAC-SHA256 of "t.body">', () => {
    const header = signPayload(secret, body, ts);
    const hex = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
    expect(header).toBe(`t=${ts},v1=${hex}`);
    expect(signPayload(secret, Buffer.from(body), ts)).toBe(header);
  });

  it('verifies a good signature, string or bytes', () => {
    const header = signPayload(secret, body, ts);
    expect(verifySignature(body, header, secret, { now })).toBe(true);
    expect(verifySignature(Buffer.from(body), header, secret, { now })).toBe(true);
    expect(verifySignature(new TextEncoder().encode(body), header, secret, { now })).toBe(true);
  });

  it('rejects a tampered body, a wrong secret, a tampered timestamp', () => {
    const header = signPayload(secret, body, ts);
    expect(verifySignature(body.replace('evt_1', 'evt_2'), header, secret, { now })).toBe(false);
    expect(verifySignature(`${body} `, header, secret, { now })).toBe(false);
    expect(verifySignature(body, header, `${secret}x`, { now })).toBe(false);
    expect(verifySignature(body, header.replace(`t=${ts}`, `t=${ts + 1}`), secret, { now })).toBe(
      false,
    );
  });

  it('rejects stale and far-future timestamps, honouring the tolerance', () => {
    const header = signPayload(secret, body, ts);
    expect(verifySignature(body, header, secret, { now: now + 300_000 })).toBe(true);
    expect(verifySignature(body, header, secret, { now: now + 301_000 })).toBe(false);
    expect(verifySignature(body, header, secret, { now: now - 301_000 })).toBe(false);
    expect(
      verifySignature(body, header, secret, { now: now + 3_600_000, toleranceSec: 3600 }),
    ).toBe(true);
    expect(verifySignature(body, header, secret, { now: now + 10_000, toleranceSec: 5 })).toBe(
      false,
    );
  });

  it('accepts a header with several v1 entries when one matches', () => {
    const good = signPayload(secret, body, ts).split(',v1=')[1]!;
    const other = signPayload('whsec_other', body, ts).split(',v1=')[1]!;
    expect(verifySignature(body, `t=${ts},v1=${other},v1=${good}`, secret, { now })).toBe(true);
    expect(verifySignature(body, `t=${ts}, v1=${good}, v0=abc`, secret, { now })).toBe(true);
    expect(verifySignature(body, `t=${ts},v1=${other}`, secret, { now })).toBe(false);
  });

  it('rejects malformed headers', () => {
    const good = signPayload(secret, body, ts).split(',v1=')[1]!;
    for (const h of [
      '',
      'garbage',
      `v1=${good}`,
      `t=${ts}`,
      `t=abc,v1=${good}`,
      `t=${ts},t=${ts},v1=${good}`,
      `t=-1,v1=${good}`,
      `t=${ts},v1=${good.slice(0, 63)}`,
      `t=${ts},v1=${good}00`,
      `t=${ts},v1=${'z'.repeat(64)}`,
    ]) {
      expect(verifySignature(body, h, secret, { now }), h).toBe(false);
    }
    expect(verifySignature(body, undefined, secret, { now })).toBe(false);
    expect(verifySignature(body, signPayload(secret, body, ts), '', { now })).toBe(false);
    expect(parseSignatureHeader(`t=${ts},v1=a,v1=b`)).toEqual({
      timestamp: ts,
      signatures: ['a', 'b'],
    });
    expect(() => signPayload(secret, body, 1.5)).toThrow(RangeError);
  });
});

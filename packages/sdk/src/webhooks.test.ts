import { createHmac } from 'node:crypto';
import { WEBHOOK_SIGNATURE_HEADER as PROTOCOL_HEADER } from '@astrdesk/protocol';
import { describe, expect, it } from 'vitest';
import { AstrDesk } from './client.js';
import { AstrDeskError, WebhookVerificationError } from './error.js';
import { signWebhook, verifyWebhook, WEBHOOK_SIGNATURE_HEADER } from './webhooks.js';

const SECRET = 'whsec_test_0123456789abcdef';
const T = 1_767_261_600; // 2026-01-01T10:00:00Z
const NOW = T * 1000;
const EVENT = {
  seq: 42,
  id: 'evt_01',
  type: 'message.created',
  data: { message: { id: 'msg_1', text: '您好' } },
  created_at: '2026-01-01T10:00:00.000Z',
};
const BODY = JSON.stringify(EVENT);

/** What the server computes (node:crypto), to check the Web Crypto implementation against. */
function serverSignature(secret: string, body: string, t: number) {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}

async function rejection(p: Promise<unknown>): Promise<WebhookVerificationError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookVerificationError);
    return err as WebhookVerificationError;
  }
  throw new Error('expected a rejection');
}

describe('webhook signatures', () => {
  const client = new AstrDesk({ baseURL: 'http://x', apiKey: null });

  it('signs like the server and verifies to the parsed event envelope', async () => {
    const header = await client.webhooks.sign(BODY, SECRET, T);
    expect(header).toBe(`t=${T},v1=${serverSignature(SECRET, BODY, T)}`);
    const event = await client.webhooks.verify(BODY, header, SECRET, { now: NOW });
    expect(event).toEqual(EVENT);
    expect(event.seq).toBe(42);
    expect(WEBHOOK_SIGNATURE_HEADER).toBe(PROTOCOL_HEADER);
  });

  it('accepts the body as bytes, the header as an array, and any matching v1 entry', async () => {
    const good = serverSignature(SECRET, BODY, T);
    const other = serverSignature('whsec_old', BODY, T);
    const header = `t=${T},v1=${other},v1=${good.toUpperCase()},v0=zzz`;
    const bytes = new TextEncoder().encode(BODY);
    expect(await verifyWebhook(bytes, header, SECRET, { now: NOW })).toEqual(EVENT);
    expect(
      await verifyWebhook(bytes.buffer as ArrayBuffer, [header], SECRET, { now: NOW }),
    ).toEqual(EVENT);
    expect(
      await verifyWebhook(BODY, ` t=${T} , v1=${good} `, SECRET, { now: new Date(NOW) }),
    ).toEqual(EVENT);
  });

  it('refuses a wrong secret, a changed body and a changed timestamp', async () => {
    const header = await signWebhook(BODY, SECRET, T);
    expect((await rejection(verifyWebhook(BODY, header, 'whsec_other', { now: NOW }))).code).toBe(
      'signature_mismatch',
    );
    const tampered = BODY.replace('42', '43');
    expect((await rejection(verifyWebhook(tampered, header, SECRET, { now: NOW }))).code).toBe(
      'signature_mismatch',
    );
    const moved = header.replace(`t=${T}`, `t=${T + 1}`);
    expect((await rejection(verifyWebhook(BODY, moved, SECRET, { now: NOW }))).code).toBe(
      'signature_mismatch',
    );
    const truncated = header.slice(0, -2);
    expect((await rejection(verifyWebhook(BODY, truncated, SECRET, { now: NOW }))).code).toBe(
      'signature_mismatch',
    );
  });

  it('refuses timestamps beyond the tolerance, either way', async () => {
    const header = await signWebhook(BODY, SECRET, T);
    await expect(verifyWebhook(BODY, header, SECRET, { now: NOW + 300_000 })).resolves.toEqual(
      EVENT,
    );
    await expect(verifyWebhook(BODY, header, SECRET, { now: NOW - 300_000 })).resolves.toEqual(
      EVENT,
    );
    const stale = await rejection(verifyWebhook(BODY, header, SECRET, { now: NOW + 301_000 }));
    expect(stale.code).toBe('timestamp_out_of_tolerance');
    expect(stale.message).toMatch(/301 s old/);
    const future = await rejection(verifyWebhook(BODY, header, SECRET, { now: NOW - 301_000 }));
    expect(future.message).toMatch(/in the future/);
    await expect(
      verifyWebhook(BODY, header, SECRET, { now: NOW + 3_600_000, toleranceSec: 3_600 }),
    ).resolves.toEqual(EVENT);
    expect(
      (
        await rejection(
          verifyWebhook(BODY, header, SECRET, { now: NOW + 11_000, toleranceSec: 10 }),
        )
      ).code,
    ).toBe('timestamp_out_of_tolerance');
    // The default clock: a signature made now passes.
    await expect(verifyWebhook(BODY, await signWebhook(BODY, SECRET), SECRET)).resolves.toEqual(
      EVENT,
    );
  });

  it('names what is wrong with the header, secret or payload', async () => {
    const sig = serverSignature(SECRET, BODY, T);
    const code = async (header: string | undefined | null, body = BODY, secret = SECRET) =>
      (await rejection(verifyWebhook(body, header, secret, { now: NOW }))).code;
    expect(await code(undefined)).toBe('missing_header');
    expect(await code(null)).toBe('missing_header');
    expect(await code('  ')).toBe('missing_header');
    expect(await code(`v1=${sig}`)).toBe('invalid_header');
    expect(await code(`t=abc,v1=${sig}`)).toBe('invalid_header');
    expect(await code(`t=${T},t=${T},v1=${sig}`)).toBe('invalid_header');
    expect(await code(`t=${T}`)).toBe('no_signature');
    expect(await code(`t=${T},v1=${sig}`, BODY, '')).toBe('missing_secret');
    const notJson = 'not json';
    expect(await code(`t=${T},v1=${serverSignature(SECRET, notJson, T)}`, notJson)).toBe(
      'invalid_payload',
    );
    const notEnvelope = '{"hello":"world"}';
    expect(await code(`t=${T},v1=${serverSignature(SECRET, notEnvelope, T)}`, notEnvelope)).toBe(
      'invalid_payload',
    );
    await expect(signWebhook(BODY, SECRET, -1)).rejects.toBeInstanceOf(AstrDeskError);
    await expect(signWebhook(BODY, SECRET, 1.5)).rejects.toBeInstanceOf(AstrDeskError);
    expect(AstrDesk.WebhookVerificationError).toBe(WebhookVerificationError);
  });
});

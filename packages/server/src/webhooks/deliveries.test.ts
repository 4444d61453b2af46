import type { EventType } from '@astrdesk/protocol';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toEnvelope } from '../infra/events/index.js';
import { createTestServer, type TestServer } from '../test-utils/index.js';
import { getWebhookWorker, type WebhookWorker } from './index.js';
import { verifySignature } from './signature.js';
import { closedPort, type Receiver, startReceiver } from './test-receiver.js';
import { createDeliveryWorker, RETRY_BASE_MS, RETRY_WINDOW_MS } from './worker.js';

let t: TestServer;
let worker: WebhookWorker;
let rx: Receiver;

beforeAll(async () => {
  t = await createTestServer({ WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' });
  worker = getWebhookWorker(t.services)!;
  // Tests drive the worker with runOnce(), so counts are exact.
  await worker.stop();
  rx = await startReceiver();
});
afterAll(async () => {
  await rx?.close();
  await t?.close();
});
beforeEach(async () => {
  // Each test starts with nothing left pending from the one before.
  await t.services.db
    .updateTable('webhook_deliveries')
    .set({ status: 'failed', next_attempt_at: null })
    .where('status', '=', 'pending')
    .execute();
  rx.received.length = 0;
  rx.replies = [];
  rx.fallback = { status: 200 };
});

type Tenant = Awaited<ReturnType<TestServer['tenant']>>;

async function endpoint(
  tenant: Tenant,
  body: Record<string, unknown> = {},
): Promise<{ id: string; secret: string }> {
  const r = await t.call('POST', '/v1/webhook-endpoints', {
    token: tenant.token,
    body: { url: `${rx.url}/hook?src=astrdesk`, events: ['message.created'], ...body },
  });
  expect(r.status).toBe(201);
  return r.body;
}

function emit(
  tenant: Tenant,
  type: EventType,
  data: Record<string, unknown>,
  visibility: 'all' | 'admin' = 'all',
) {
  return t.services.events.transact(tenant.tenantId, (_tx, e) => e(type, data, { visibility }));
}

async function deliveries(tenant: Tenant, endpointId: string, query = '') {
  const r = await t.call('GET', `/v1/webhook-endpoints/${endpointId}/deliveries${query}`, {
    token: tenant.token,
  });
  expect(r.status).toBe(200);
  return r.body.data as Array<Record<string, any>>;
}

async function delivery(tenant: Tenant, endpointId: string, id: string) {
  const r = await t.call('GET', `/v1/webhook-endpoints/${endpointId}/deliveries/${id}`, {
    token: tenant.token,
  });
  expect(r.status).toBe(200);
  return r.body;
}

describe('webhook deliveries', () => {
  it('POSTs the signed envelope of a subscribed event', async () => {
    const a = await t.tenant('SendCo');
    const ep = await endpoint(a);
    const e = await emit(a, 'message.created', {
      message: { id: 'msg_1', text: 'hello marker-7f3a' },
    });
    expect(await worker.runOnce()).toBe(1);

    expect(rx.received).toHaveLength(1);
    const got = rx.received[0]!;
    expect(got.method).toBe('POST');
    expect(got.path).toBe('/hook?src=astrdesk');
    expect(JSON.parse(got.body)).toEqual(toEnvelope(e));
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe('AstrDesk-Webhooks/1');
    expect(got.headers['astrdesk-event-id']).toBe(e.id);
    expect(got.headers['astrdesk-event-type']).toBe('message.created');
    expect(got.headers['astrdesk-delivery-id']).toMatch(/^whd_/);
    const sig = got.headers['astrdesk-signature'] as string;
    expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const now = t.services.now();
    expect(verifySignature(got.body, sig, ep.secret, { now })).toBe(true);
    expect(
      verifySignature(got.body.replace('marker-7f3a', 'marker-0000'), sig, ep.secret, { now }),
    ).toBe(false);
    expect(verifySignature(got.body, sig, `${ep.secret}x`, { now })).toBe(false);

    const [d] = await deliveries(a, ep.id);
    expect(d).toMatchObject({
      id: got.headers['astrdesk-delivery-id'],
      object: 'webhook_delivery',
      endpoint_id: ep.id,
      event_id: e.id,
      event_seq: e.seq,
      event_type: 'message.created',
      status: 'succeeded',
      attempts: 1,
      last_status_code: 200,
      last_error: null,
      next_attempt_at: null,
    });
    expect(d!.delivered_at).not.toBeNull();
    const detail = await delivery(a, ep.id, d!.id);
    expect(detail.attempt_log).toHaveLength(1);
    expect(detail.attempt_log[0]).toMatchObject({ status_code: 200, error: null });
    expect(detail.attempt_log[0].duration_ms).toBeGreaterThanOrEqual(0);

    // One log line per attempt, without the secret or the body.
    const logs = t.logs.join('\n');
    expect(logs).toContain('"event":"webhook.attempt"');
    expect(logs).not.toContain(ep.secret);
    expect(logs).not.toContain('marker-7f3a');
    expect(await worker.runOnce()).toBe(0);
  });

  it('retries a 500 with backoff and records every attempt', async () => {
    const a = await t.tenant('RetryCo');
    const ep = await endpoint(a);
    rx.replies = [{ status: 500 }];
    await emit(a, 'message.created', { n: 1 });
    expect(await worker.runOnce()).toBe(1);
    let [d] = await deliveries(a, ep.id);
    expect(d).toMatchObject({
      status: 'pending',
      attempts: 1,
      last_status_code: 500,
      last_error: 'HTTP 500',
      delivered_at: null,
    });
    expect(Date.parse(d!.next_attempt_at)).toBeGreaterThan(t.services.now());
    expect(Date.parse(d!.next_attempt_at)).toBeLessThanOrEqual(t.services.now() + RETRY_BASE_MS);
    expect(await worker.runOnce()).toBe(0); // not due yet
    expect(await deliveries(a, ep.id, '?status=pending')).toHaveLength(1);
    expect(await deliveries(a, ep.id, '?status=succeeded')).toHaveLength(0);

    t.advance(RETRY_BASE_MS + 1);
    expect(await worker.runOnce()).toBe(1);
    [d] = await deliveries(a, ep.id);
    expect(d).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      last_status_code: 200,
      last_error: null,
    });
    const detail = await delivery(a, ep.id, d!.id);
    expect(detail.attempt_log.map((x: { status_code: number }) => x.status_code)).toEqual([
      500, 200,
    ]);
    expect(detail.attempt_log[0].error).toBe('HTTP 500');
    expect(rx.received).toHaveLength(2);
    // The same delivery, re-signed at send time.
    expect(rx.received[0]!.headers['astrdesk-delivery-id']).toBe(
      rx.received[1]!.headers['astrdesk-delivery-id'],
    );
    expect(rx.received[0]!.body).toBe(rx.received[1]!.body);
  });

  it('delivers only subscribed types; * gets everything, admin-only events included', async () => {
    const a = await t.tenant('FilterCo');
    const messagesOnly = await endpoint(a, { events: ['message.created'] });
    const everything = await endpoint(a, { events: ['*'] });
    await emit(a, 'conversation.created', { conversation: { id: 'conv_1' } });
    await emit(a, 'message.blocked', { message: { id: 'msg_b' } }, 'admin');
    expect(await worker.runOnce()).toBe(2);
    expect(await deliveries(a, messagesOnly.id)).toHaveLength(0);
    const all = await deliveries(a, everything.id);
    expect(all.map((d) => d.event_type)).toEqual(['message.blocked', 'conversation.created']);
    expect(rx.received.map((r) => r.headers['astrdesk-event-type']).sort()).toEqual([
      'conversation.created',
      'message.blocked',
    ]);
  });

  it('a batch of events appended at once queues one delivery per subscribed event and endpoint', async () => {
    const a = await t.tenant('BatchHookCo');
    const messagesOnly = await endpoint(a, { events: ['message.created'] });
    const everything = await endpoint(a, { events: ['*'] });
    // As an ingest batch does: many events in one append.
    const appended = await t.services.events.transact(a.tenantId, (_tx, _emit, emitMany) =>
      emitMany([
        { type: 'message.created', data: { n: 1 } },
        { type: 'conversation.created', data: { n: 2 } },
        { type: 'message.created', data: { n: 3 } },
      ]),
    );
    const seqs = appended.map((e) => e.seq);
    const onlyMessages = await deliveries(a, messagesOnly.id);
    expect(onlyMessages.map((d) => d.event_seq).sort((x, y) => x - y)).toEqual([seqs[0], seqs[2]]);
    const all = await deliveries(a, everything.id);
    expect(all.map((d) => d.event_seq).sort((x, y) => x - y)).toEqual(seqs);
    expect(new Set([...onlyMessages, ...all].map((d) => d.id)).size).toBe(5);
    expect(await worker.runOnce()).toBe(5);
    expect(rx.received).toHaveLength(5);
  });

  it('queues nothing for a disabled endpoint, and holds queued ones while disabled', async () => {
    const a = await t.tenant('PauseCo');
    const off = await endpoint(a, { enabled: false });
    await emit(a, 'message.created', { n: 1 });
    expect(await worker.runOnce()).toBe(0);
    expect(await deliveries(a, off.id)).toHaveLength(0);

    const ep = await endpoint(a);
    await emit(a, 'message.created', { n: 2 });
    const patch = (enabled: boolean) =>
      t.call('PATCH', `/v1/webhook-endpoints/${ep.id}`, { token: a.token, body: { enabled } });
    expect((await patch(false)).status).toBe(200);
    expect(await worker.runOnce()).toBe(0);
    const [d] = await deliveries(a, ep.id);
    expect(d).toMatchObject({ status: 'pending', attempts: 0 });
    const re = await t.call(
      'POST',
      `/v1/webhook-endpoints/${ep.id}/deliveries/${d!.id}/redeliver`,
      {
        token: a.token,
      },
    );
    expect(re.status).toBe(409);
    expect(re.body.error.code).toBe('conflict');
    await patch(true);
    expect(await worker.runOnce()).toBe(1);
    expect(rx.received).toHaveLength(1);
  });

  it('gives up after 24 h; a manual redeliver sends it again', async () => {
    const a = await t.tenant('GiveUpCo');
    const ep = await endpoint(a);
    rx.fallback = { status: 503 };
    await emit(a, 'message.created', { n: 1 });
    expect(await worker.runOnce()).toBe(1);
    t.advance(RETRY_WINDOW_MS + 60_000);
    expect(await worker.runOnce()).toBe(1);
    let [d] = await deliveries(a, ep.id);
    expect(d).toMatchObject({
      status: 'failed',
      attempts: 2,
      last_status_code: 503,
      next_attempt_at: null,
    });
    t.advance(RETRY_WINDOW_MS);
    expect(await worker.runOnce()).toBe(0);
    expect(await deliveries(a, ep.id, '?status=failed')).toHaveLength(1);

    rx.fallback = { status: 204 };
    const re = await t.call(
      'POST',
      `/v1/webhook-endpoints/${ep.id}/deliveries/${d!.id}/redeliver`,
      {
        token: a.token,
      },
    );
    expect(re.status).toBe(200);
    expect(re.body).toMatchObject({ id: d!.id, status: 'pending' });
    expect(await worker.runOnce()).toBe(1);
    [d] = await deliveries(a, ep.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 3, last_status_code: 204 });
    expect((await delivery(a, ep.id, d!.id)).attempt_log).toHaveLength(3);
    expect(rx.received).toHaveLength(3);
  });

  it('redelivers a succeeded delivery, signed with the current (rotated) secret', async () => {
    const a = await t.tenant('RedeliverCo');
    const ep = await endpoint(a);
    await emit(a, 'message.created', { n: 1 });
    await worker.runOnce();
    const [d] = await deliveries(a, ep.id);
    const rot = await t.call('POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      token: a.token,
    });
    const re = await t.call(
      'POST',
      `/v1/webhook-endpoints/${ep.id}/deliveries/${d!.id}/redeliver`,
      {
        token: a.token,
      },
    );
    expect(re.status).toBe(200);
    expect(await worker.runOnce()).toBe(1);
    expect(rx.received).toHaveLength(2);
    const second = rx.received[1]!;
    const now = t.services.now();
    const sig = second.headers['astrdesk-signature'] as string;
    expect(verifySignature(second.body, sig, rot.body.secret, { now })).toBe(true);
    expect(verifySignature(second.body, sig, ep.secret, { now })).toBe(false);
    expect(second.body).toBe(rx.received[0]!.body);
  });

  it('does not follow redirects; records connection errors', async () => {
    const a = await t.tenant('RedirectCo');
    const ep = await endpoint(a);
    rx.replies = [{ status: 302, headers: { location: `${rx.url}/elsewhere` } }];
    await emit(a, 'message.created', { n: 1 });
    expect(await worker.runOnce()).toBe(1);
    expect(rx.received).toHaveLength(1);
    const [d] = await deliveries(a, ep.id);
    expect(d).toMatchObject({ status: 'pending', last_status_code: 302 });
    expect(d!.last_error).toMatch(/redirect/);

    const port = await closedPort();
    const dead = await t.call('POST', '/v1/webhook-endpoints', {
      token: a.token,
      body: { url: `http://127.0.0.1:${port}/`, events: ['conversation.created'] },
    });
    await emit(a, 'conversation.created', { n: 2 });
    expect(await worker.runOnce()).toBe(1);
    const [x] = await deliveries(a, dead.body.id);
    expect(x).toMatchObject({ status: 'pending', attempts: 1, last_status_code: null });
    expect(x!.last_error).toMatch(/ECONNREFUSED/);
  });

  it('deleting an endpoint drops its queued deliveries', async () => {
    const a = await t.tenant('DeleteCo');
    const ep = await endpoint(a);
    await emit(a, 'message.created', { n: 1 });
    await t.call('DELETE', `/v1/webhook-endpoints/${ep.id}`, { token: a.token });
    expect(await worker.runOnce()).toBe(0);
    expect(rx.received).toHaveLength(0);
    const left = await t.services.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('endpoint_id', '=', ep.id)
      .execute();
    expect(left).toHaveLength(0);
  });

  it('two workers never send the same attempt', async () => {
    const a = await t.tenant('LeaseCo');
    await endpoint(a, { events: ['*'] });
    for (let i = 0; i < 12; i++) await emit(a, 'message.created', { n: i });
    const other = createDeliveryWorker(t.services);
    const [x, y] = await Promise.all([worker.runOnce(), other.runOnce()]);
    expect(x + y).toBe(12);
    expect(rx.received).toHaveLength(12);
    const ids = new Set(rx.received.map((r) => r.headers['astrdesk-delivery-id']));
    expect(ids.size).toBe(12);
    await other.stop();
  });

  it('never logs endpoint secrets', async () => {
    const secrets = (
      await t.services.db
        .selectFrom('webhook_endpoints')
        .select(['secret_encrypted', 'tenant_id'])
        .execute()
    ).map((r) => t.services.secrets.decrypt(r.secret_encrypted, r.tenant_id));
    expect(secrets.length).toBeGreaterThan(5);
    const logs = t.logs.join('\n');
    for (const s of secrets) expect(logs).not.toContain(s);
  });
});

describe('webhook worker loop', () => {
  it('sends promptly when an event is committed, without runOnce', async () => {
    // A second worker on the same services, started like installWebhooks starts its own:
    // it hears committed events on the bus.
    const loop = createDeliveryWorker(t.services, { pollIntervalMs: 60_000 });
    loop.start();
    try {
      const a = await t.tenant('LoopCo');
      const ep = await endpoint(a, { url: `${rx.url}/loop` });
      await emit(a, 'message.created', { loop: true });
      const deadline = Date.now() + 15_000;
      while (rx.received.length === 0 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 20));
      }
      expect(rx.received).toHaveLength(1);
      const got = rx.received[0]!;
      expect(got.path).toBe('/loop');
      const sig = got.headers['astrdesk-signature'] as string;
      expect(verifySignature(got.body, sig, ep.secret, { now: t.services.now() })).toBe(true);
    } finally {
      await loop.stop();
    }
  });
});

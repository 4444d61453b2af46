import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';
import { runHousekeeping } from './index.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(async () => {
  await t?.close();
});

it('trims old events, idempotent answers and ingest ids, keeping recent ones', async () => {
  const a = await t.tenant('KeepCo');
  const inst = await t.call('POST', '/v1/instances', {
    token: a.token,
    body: { name: 'b', platforms: [] },
  });
  const event = (id: string) => ({
    id,
    type: 'message.inbound',
    occurred_at: new Date().toISOString(),
    data: {
      platform: 'qq',
      platform_user_id: 'u',
      platform_message_id: id,
      session_id: 's',
      kind: 'text',
      text: 'hi',
      sent_at: new Date().toISOString(),
    },
  });
  await t.call('POST', '/v1/sidecar/events', {
    token: inst.body.token,
    body: { events: [event('old-1')] },
  });
  await t.call('POST', '/v1/api-keys', {
    token: a.token,
    body: { name: 'k', scopes: ['tenant:read'] },
    headers: { 'idempotency-key': 'old-key' },
  });
  expect(await runHousekeeping(t.services)).toEqual({
    events: 0,
    idempotency_keys: 0,
    webhook_deliveries: 0,
    ingested_events: 0,
  });
  t.advance(31 * 86_400_000);
  await t.call('POST', '/v1/sidecar/events', {
    token: inst.body.token,
    body: { events: [event('new-1')] },
  });
  const r = await runHousekeeping(t.services);
  expect(r.events).toBeGreaterThan(0);
  expect(r.idempotency_keys).toBe(1);
  expect(r.ingested_events).toBe(1);
  const left = await t.services.db.selectFrom('ingested_events').select('event_id').execute();
  expect(left.map((x) => x.event_id)).toEqual(['new-1']);
  const seqs = await t.services.events.read(a.tenantId, 0, 1000);
  expect(seqs.length).toBeGreaterThan(0);
  expect(seqs.every((e) => e.createdAt >= t.services.now() - 7 * 86_400_000)).toBe(true);
});

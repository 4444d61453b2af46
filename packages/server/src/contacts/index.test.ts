import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';

let t: TestServer;
let owner: Awaited<ReturnType<TestServer['tenant']>>;

beforeAll(async () => {
  t = await createTestServer();
  owner = await t.tenant('ContactCo');
  const inst = await t.call('POST', '/v1/instances', {
    token: owner.token,
    body: { name: 'b', platforms: ['qq'] },
  });
  const users = [
    ['50%off', 'Deal Hunter'],
    ['x50yoff', 'Plain'],
    ['alice_1', 'Alice W'],
    ['a1ice11', 'Other'],
  ];
  const events = users.map(([id, nick], i) => ({
    id: `c-${i}`,
    type: 'message.inbound',
    occurred_at: new Date().toISOString(),
    data: {
      platform: 'qq',
      platform_user_id: id,
      nickname: nick,
      platform_message_id: `m${i}`,
      session_id: `s${i}`,
      kind: 'text',
      text: 'hi',
      sent_at: new Date().toISOString(),
    },
  }));
  expect(
    (await t.call('POST', '/v1/sidecar/events', { token: inst.body.token, body: { events } }))
      .status,
  ).toBe(200);
});
afterAll(async () => {
  await t?.close();
});

const ids = async (q: string) =>
  (
    await t.call('GET', `/v1/contacts?q=${encodeURIComponent(q)}`, { token: owner.token })
  ).body.data.map((c: { platform_user_id: string }) => c.platform_user_id);

it('treats LIKE wildcards in q as text', async () => {
  expect(await ids('50%')).toEqual(['50%off']);
  expect(await ids('alice_')).toEqual(['alice_1']);
});

it('matches nickname or user id, case-insensitively, on both databases', async () => {
  expect(await ids('ALICE')).toEqual(['alice_1']);
  expect(await ids('deal hunter')).toEqual(['50%off']);
});

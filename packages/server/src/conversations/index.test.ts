import {
  CONVERSATION_ACTIONS,
  CONVERSATION_STATES,
  type ConversationAction,
  type ConversationState,
} from '@astrdesk/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';
import { runConversationJobs } from './jobs.js';

let t: TestServer;
let owner: Awaited<ReturnType<TestServer['tenant']>>;
let instanceToken: string;
let agent1: { id: string; token: string };
let agent2: { id: string; token: string };
const password = 'correct-horse-battery';
let n = 0;

async function member(email: string, role: 'agent' | 'admin' = 'agent') {
  const m = await t.call('POST', '/v1/members', {
    token: owner.token,
    body: { email, name: email.split('@')[0], role, password },
  });
  const l = await t.call('POST', '/v1/auth/login', { body: { email, password } });
  return { id: m.body.id as string, token: l.body.token as string };
}

function inbound(userId: string, text: string, extra: Record<string, unknown> = {}) {
  n++;
  return {
    id: `evt-${n}-${Math.random().toString(36).slice(2)}`,
    type: 'message.inbound',
    occurred_at: new Date().toISOString(),
    data: {
      platform: 'qq',
      platform_user_id: userId,
      nickname: `user ${userId}`,
      platform_message_id: `pm-${n}`,
      session_id: `aiocqhttp:FriendMessage:${userId}`,
      kind: 'text',
      text,
      sent_at: new Date().toISOString(),
      ...extra,
    },
  };
}

async function ingest(events: unknown[], token = instanceToken) {
  return t.call('POST', '/v1/sidecar/events', { token, body: { events } });
}

/** A fresh conversation from a new user, in `waiting`. */
async function newConversation(): Promise<string> {
  const user = `u${++n}`;
  const r = await ingest([inbound(user, 'hello')]);
  expect(r.status).toBe(200);
  const contact = (await t.call('GET', `/v1/contacts?q=${user}`, { token: owner.token })).body
    .data[0];
  const convs = await t.call('GET', `/v1/conversations?contact_id=${contact.id}`, {
    token: owner.token,
  });
  expect(convs.body.data[0].state).toBe('waiting');
  return convs.body.data[0].id as string;
}

const act = (id: string, action: string, token: string, body?: unknown) =>
  t.call('POST', `/v1/conversations/${id}/${action}`, {
    token,
    ...(body !== undefined ? { body } : {}),
  });

/** Drives a new conversation into `state`. */
async function conversationIn(state: ConversationState): Promise<string> {
  const id = await newConversation();
  if (state === 'waiting') return id;
  expect((await act(id, 'accept', agent1.token)).status).toBe(200);
  if (state === 'active') return id;
  if (state === 'transferring') {
    expect((await act(id, 'transfer', agent1.token, { to_agent_id: agent2.id })).status).toBe(200);
    return id;
  }
  expect((await act(id, 'close', agent1.token, {})).status).toBe(200);
  return id;
}

function bodyFor(action: ConversationAction) {
  if (action === 'assign') return { agent_id: agent2.id };
  if (action === 'transfer') return { to_agent_id: agent2.id };
  if (action === 'close') return { reason: 'done' };
  return undefined;
}

beforeAll(async () => {
  t = await createTestServer();
  owner = await t.tenant('ConvCo');
  const inst = await t.call('POST', '/v1/instances', {
    token: owner.token,
    body: { name: 'bot-1', platforms: ['qq'] },
  });
  expect(inst.status).toBe(201);
  instanceToken = inst.body.token;
  agent1 = await member('agent1@conv.example');
  agent2 = await member('agent2@conv.example');
});
afterAll(async () => {
  await t?.close();
});

describe('ingest', () => {
  it('a first message opens a waiting conversation with its contact and message', async () => {
    const r = await ingest([inbound('10001', '我想申请退款', { nickname: '小王' })]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ object: 'ingest_result', accepted: 1 });
    const messageId = r.body.results[0].message_id;
    const contacts = await t.call('GET', '/v1/contacts?q=10001', { token: owner.token });
    expect(contacts.body.data[0]).toMatchObject({
      platform: 'qq',
      platform_user_id: '10001',
      nickname: '小王',
    });
    const convs = await t.call('GET', `/v1/conversations?contact_id=${contacts.body.data[0].id}`, {
      token: owner.token,
    });
    expect(convs.body.data).toHaveLength(1);
    const conv = convs.body.data[0];
    expect(conv).toMatchObject({
      state: 'waiting',
      platform: 'qq',
      unread_count: 1,
      message_count: 1,
      last_message_preview: '我想申请退款',
    });
    expect(conv.first_user_message_at).not.toBeNull();
    const msgs = await t.call('GET', `/v1/conversations/${conv.id}/messages`, {
      token: owner.token,
    });
    expect(msgs.body.data.map((m: { id: string }) => m.id)).toEqual([messageId]);
    expect(msgs.body.data[0]).toMatchObject({
      sender: 'user',
      kind: 'text',
      status: 'received',
      text: '我想申请退款',
    });
    // A second message from the same user joins the same open conversation.
    await ingest([inbound('10001', '订单号 123')]);
    const again = await t.call('GET', `/v1/conversations/${conv.id}`, { token: owner.token });
    expect(again.body).toMatchObject({ message_count: 2, unread_count: 2 });
  });

  it('duplicate event ids produce one message, and a replayed batch answers the same', async () => {
    const batch = [inbound('dup-user', 'first'), inbound('dup-user', 'second')];
    const a = await ingest(batch);
    const b = await ingest(batch);
    expect(b.body).toEqual(a.body);
    const c = await ingest([batch[1], inbound('dup-user', 'third')]);
    expect(c.body.results[0]).toEqual(a.body.results[1]);
    const convId = (await t.call('GET', '/v1/contacts?q=dup-user', { token: owner.token })).body
      .data[0].id;
    const list = await t.call('GET', `/v1/conversations?contact_id=${convId}`, {
      token: owner.token,
    });
    expect(list.body.data[0].message_count).toBe(3);
  });

  it('an unknown event kind rejects the whole batch with its index, writing nothing', async () => {
    const good = inbound('batch-user', 'fine');
    const r = await ingest([good, { ...inbound('batch-user', 'x'), type: 'message.exploded' }]);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      code: 'validation_failed',
      param: 'events.1.type',
      details: { index: 1 },
    });
    expect(r.body.error.message).toMatch(/unknown event type "message.exploded"/);
    const bad = await ingest([good, inbound('batch-user', 'x', { platform: 'myspace' })]);
    expect(bad.body.error.param).toBe('events.1.data.platform');
    expect(
      (await t.call('GET', '/v1/contacts?q=batch-user', { token: owner.token })).body.data,
    ).toHaveLength(0);
    expect((await ingest(Array.from({ length: 501 }, () => good))).status).toBe(400);
  });

  it('stores blocked messages for admins only, without queueing work', async () => {
    const e = inbound('blocked-user', 'spam spam', {});
    const r = await ingest([
      {
        ...e,
        type: 'message.blocked',
        data: { ...e.data, message_status: 'blocked_by_blacklist', reason: 'spammer' },
      },
    ]);
    expect(r.status).toBe(200);
    const contact = (await t.call('GET', '/v1/contacts?q=blocked-user', { token: owner.token }))
      .body.data[0];
    const conv = (
      await t.call('GET', `/v1/conversations?contact_id=${contact.id}`, { token: owner.token })
    ).body.data[0];
    expect(conv).toMatchObject({ state: 'closed', close_reason: 'blocked_by_blacklist' });
    const asOwner = await t.call('GET', `/v1/conversations/${conv.id}/messages`, {
      token: owner.token,
    });
    expect(asOwner.body.data).toHaveLength(1);
    expect(asOwner.body.data[0].status).toBe('blocked_by_blacklist');
    const asAgent = await t.call('GET', `/v1/conversations/${conv.id}/messages`, {
      token: agent1.token,
    });
    expect(asAgent.body.data).toHaveLength(0);
  });

  it('records what AstrBot replied by itself as a bot message', async () => {
    await ingest([inbound('bot-user', 'hi bot')]);
    const r = await ingest([
      {
        id: `out-${n++}`,
        type: 'message.outbound_sent',
        occurred_at: new Date().toISOString(),
        data: {
          platform: 'qq',
          platform_user_id: 'bot-user',
          session_id: 'aiocqhttp:FriendMessage:bot-user',
          kind: 'text',
          text: 'Hello, I am a bot',
          sent_at: new Date().toISOString(),
        },
      },
    ]);
    expect(r.body.results[0].message_id).toMatch(/^msg_/);
    const contact = (await t.call('GET', '/v1/contacts?q=bot-user', { token: owner.token })).body
      .data[0];
    const conv = (
      await t.call('GET', `/v1/conversations?contact_id=${contact.id}`, { token: owner.token })
    ).body.data[0];
    expect(conv.handled_by).toBe('bot');
    const msgs = await t.call('GET', `/v1/conversations/${conv.id}/messages`, {
      token: owner.token,
    });
    expect(msgs.body.data[0]).toMatchObject({ sender: 'bot', text: 'Hello, I am a bot' });
  });

  it('instance tokens work on the sidecar route only, and nothing else calls it', async () => {
    expect((await t.call('GET', '/v1/conversations', { token: instanceToken })).status).toBe(403);
    const key = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'k', scopes: ['conversations:read'] },
    });
    expect((await ingest([inbound('x', 'y')], key.body.secret)).status).toBe(403);
    expect((await ingest([inbound('x', 'y')], owner.token)).status).toBe(403);
  });
});

describe('state machine', () => {
  const cases: Array<[ConversationAction, ConversationState]> = [];
  for (const action of Object.keys(CONVERSATION_ACTIONS) as ConversationAction[]) {
    for (const from of CONVERSATION_STATES) cases.push([action, from]);
  }

  it.each(cases)('%s from %s follows the table', async (action, from) => {
    const id = await conversationIn(from);
    // The transfer target accepts/declines; everyone else acts as agent1 (the assignee).
    const token =
      (action === 'accept' || action === 'decline') && from === 'transferring'
        ? agent2.token
        : agent1.token;
    const r = await act(id, action, token, bodyFor(action));
    const expected = (
      CONVERSATION_ACTIONS[action] as Partial<Record<ConversationState, ConversationState>>
    )[from];
    if (expected) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.state).toBe(expected);
    } else {
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({
        code: 'invalid_state_transition',
        details: { current_state: from },
      });
      expect(
        (await t.call('GET', `/v1/conversations/${id}`, { token: owner.token })).body.state,
      ).toBe(from);
    }
  });

  it('stores every transition and writes it as a system message', async () => {
    const id = await conversationIn('active');
    await act(id, 'close', agent1.token, { reason: 'resolved' });
    const tr = await t.call('GET', `/v1/conversations/${id}/transitions`, { token: owner.token });
    expect(
      tr.body.data.map((x: { action: string; to_state: string }) => `${x.action}:${x.to_state}`),
    ).toEqual(['open:waiting', 'accept:active', 'close:closed']);
    expect(tr.body.data[1].actor).toBe(`member:${agent1.id}`);
    expect(tr.body.data[2].reason).toBe('resolved');
    const msgs = await t.call('GET', `/v1/conversations/${id}/messages?direction=newer`, {
      token: owner.token,
    });
    expect(
      msgs.body.data
        .filter((m: { kind: string }) => m.kind === 'system')
        .map((m: { text: string }) => m.text),
    ).toEqual(['agent1 joined the conversation', 'Conversation closed: resolved']);
    const conv = (await t.call('GET', `/v1/conversations/${id}`, { token: owner.token })).body;
    expect(conv).toMatchObject({
      state: 'closed',
      assigned_agent_id: agent1.id,
      handled_by: 'agent',
      close_reason: 'resolved',
    });
    expect(conv.assigned_at).not.toBeNull();
    expect(conv.closed_at).not.toBeNull();
  });

  it('only the transfer target (or an admin) accepts a transfer; handoffs are counted', async () => {
    const id = await conversationIn('transferring');
    const byOther = await act(id, 'accept', agent1.token);
    expect(byOther.status).toBe(403);
    const ok = await act(id, 'accept', agent2.token);
    expect(ok.body).toMatchObject({
      state: 'active',
      assigned_agent_id: agent2.id,
      handoff_count: 1,
      transfer: null,
    });
  });

  it('a transfer nobody answers goes back to the previous agent', async () => {
    const id = await conversationIn('transferring');
    expect(await runConversationJobs(t.services)).toBe(0);
    t.advance(121_000);
    expect(await runConversationJobs(t.services)).toBeGreaterThanOrEqual(1);
    const conv = (await t.call('GET', `/v1/conversations/${id}`, { token: owner.token })).body;
    expect(conv).toMatchObject({ state: 'active', assigned_agent_id: agent1.id, transfer: null });
  });

  it('closes conversations idle past the tenant setting', async () => {
    const s = await t.call('PATCH', '/v1/tenant/settings/conversations', {
      token: owner.token,
      body: { inactivity_close_minutes: 30 },
    });
    expect(s.body.inactivity_close_minutes).toBe(30);
    const id = await conversationIn('active');
    t.advance(31 * 60_000);
    await runConversationJobs(t.services);
    const conv = (await t.call('GET', `/v1/conversations/${id}`, { token: owner.token })).body;
    expect(conv).toMatchObject({ state: 'closed', close_reason: 'inactivity' });
    await t.call('PATCH', '/v1/tenant/settings/conversations', {
      token: owner.token,
      body: { inactivity_close_minutes: 0 },
    });
  });

  it('assign checks the agent belongs to the tenant', async () => {
    const id = await conversationIn('waiting');
    const r = await act(id, 'assign', owner.token, { agent_id: 'usr_nobody' });
    expect(r.status).toBe(404);
    expect(r.body.error.param).toBe('agent_id');
  });
});

describe('routing', () => {
  it('auto-assigns a new conversation to the online agent with the fewest active conversations', async () => {
    await t.call('PATCH', '/v1/tenant/settings/conversations', {
      token: owner.token,
      body: { auto_assign: true },
    });
    // Presence as the realtime connection records it: explicit status plus a live connection.
    for (const a of [agent1, agent2]) {
      await t.call('PUT', '/v1/presence', { token: a.token, body: { status: 'online' } });
      await t.services.db
        .updateTable('agent_presence')
        .set({ connections: 1, heartbeat_at: t.services.now() })
        .where('member_id', '=', a.id)
        .execute();
    }
    const load = async (id: string) =>
      (await t.call('GET', `/v1/conversations?agent_id=${id}&state=active`, { token: owner.token }))
        .body.data.length;
    const before = [await load(agent1.id), await load(agent2.id)];
    const lighter = before[0]! <= before[1]! ? agent1 : agent2;
    await ingest([inbound(`route-${n}`, 'route me')]);
    const after = [await load(agent1.id), await load(agent2.id)];
    expect(after[0]! + after[1]!).toBe(before[0]! + before[1]! + 1);
    expect(await load(lighter.id)).toBe((lighter === agent1 ? before[0]! : before[1]!) + 1);
    // Nobody online → it waits.
    await t.services.db.updateTable('agent_presence').set({ connections: 0 }).execute();
    await ingest([inbound(`route-${n}-b`, 'wait for me')]);
    const presence = await t.call('GET', '/v1/presence', { token: owner.token });
    expect(presence.body.data.every((p: { status: string }) => p.status === 'offline')).toBe(true);
    await t.call('PATCH', '/v1/tenant/settings/conversations', {
      token: owner.token,
      body: { auto_assign: false },
    });
  });
});

describe('agent replies', () => {
  it('stores the reply and queues a delivery to the instance', async () => {
    const id = await conversationIn('active');
    const r = await t.call('POST', `/v1/conversations/${id}/messages`, {
      token: agent1.token,
      body: { text: '您好，请稍等' },
    });
    expect(r.status).toBe(201);
    expect(r.body.message).toMatchObject({
      sender: 'agent',
      agent_id: agent1.id,
      status: 'queued',
      internal: false,
    });
    expect(r.body.delivery).toMatchObject({ status: 'queued', message_id: r.body.message.id });
    expect(r.body.delivery.instance_id).toMatch(/^inst_/);
    const conv = (await t.call('GET', `/v1/conversations/${id}`, { token: owner.token })).body;
    expect(conv.first_agent_reply_at).not.toBeNull();
    expect(conv.unread_count).toBe(0);
  });

  it('internal notes are stored without a delivery', async () => {
    const id = await conversationIn('active');
    const r = await t.call('POST', `/v1/conversations/${id}/messages`, {
      token: agent1.token,
      body: { text: 'VIP customer', internal: true },
    });
    expect(r.body.message.internal).toBe(true);
    expect(r.body.delivery).toBeNull();
  });

  it('a closed conversation answers 409 conversation_closed; reopened, it accepts replies', async () => {
    const id = await conversationIn('closed');
    const r = await t.call('POST', `/v1/conversations/${id}/messages`, {
      token: agent1.token,
      body: { text: 'hello?' },
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('conversation_closed');
    await act(id, 'reopen', agent1.token);
    expect(
      (
        await t.call('POST', `/v1/conversations/${id}/messages`, {
          token: agent1.token,
          body: { text: 'hello again' },
        })
      ).status,
    ).toBe(201);
  });

  it('text over the limit answers 400 text_too_long', async () => {
    const id = await conversationIn('active');
    const r = await t.call('POST', `/v1/conversations/${id}/messages`, {
      token: agent1.token,
      body: { text: '退'.repeat(6000) },
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      code: 'text_too_long',
      param: 'text',
      details: { max_text_bytes: 16384, bytes: 18000 },
    });
  });

  it('records CSAT', async () => {
    const id = await conversationIn('closed');
    const r = await t.call('POST', `/v1/conversations/${id}/rating`, {
      token: owner.token,
      body: { score: 5, comment: 'great' },
    });
    expect(r.body.rating).toMatchObject({ score: 5, comment: 'great' });
    expect(
      (
        await t.call('POST', `/v1/conversations/${id}/rating`, {
          token: owner.token,
          body: { score: 6 },
        })
      ).status,
    ).toBe(400);
  });
});

describe('message pages', () => {
  it('pages older and newer, and centres on a message', async () => {
    const user = `pages-${n}`;
    const r = await ingest(Array.from({ length: 9 }, (_, i) => inbound(user, `m${i}`)));
    const ids: string[] = r.body.results.map((x: { message_id: string }) => x.message_id);
    const contact = (await t.call('GET', `/v1/contacts?q=${user}`, { token: owner.token })).body
      .data[0];
    const conv = (
      await t.call('GET', `/v1/conversations?contact_id=${contact.id}`, { token: owner.token })
    ).body.data[0];
    const base = `/v1/conversations/${conv.id}/messages`;
    const p1 = await t.call('GET', `${base}?limit=4`, { token: owner.token });
    expect(p1.body.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(5).reverse());
    const p2 = await t.call('GET', `${base}?limit=4&cursor=${p1.body.next_cursor}`, {
      token: owner.token,
    });
    expect(p2.body.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(1, 5).reverse());
    const fwd = await t.call('GET', `${base}?limit=5&direction=newer`, { token: owner.token });
    expect(fwd.body.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(0, 5));
    const fwd2 = await t.call(
      'GET',
      `${base}?limit=5&direction=newer&cursor=${fwd.body.next_cursor}`,
      { token: owner.token },
    );
    expect(fwd2.body.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(5));
    expect(fwd2.body.has_more).toBe(false);
    const around = await t.call('GET', `${base}?limit=4&around=${ids[4]}`, { token: owner.token });
    expect(around.body.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(3, 7)); // 1 older, the pivot, 2 newer
    expect(around.body.older_cursor).not.toBeNull();
    expect(around.body.newer_cursor).not.toBeNull();
    const one = await t.call('GET', `${base}?limit=1&around=${ids[8]}`, { token: owner.token });
    expect(one.body.data.map((m: { id: string }) => m.id)).toEqual([ids[8]]);
    expect(one.body.newer_cursor).toBeNull();
    // Paging back down from an older page.
    const down = await t.call(
      'GET',
      `${base}?limit=4&direction=newer&cursor=${p2.body.newer_cursor}`,
      { token: owner.token },
    );
    expect(down.body.data.map((m: { id: string }) => m.id)).toEqual(ids.slice(5));
  });
});

describe('event log', () => {
  it('is gap-free and ordered per tenant', async () => {
    const events = await t.services.events.read(owner.tenantId, 0, 100_000);
    expect(events.length).toBeGreaterThan(50);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const types = new Set(events.map((e) => e.type));
    for (const ty of [
      'contact.created',
      'conversation.created',
      'message.created',
      'conversation.state_changed',
      'message.blocked',
      'delivery.queued',
    ]) {
      expect(types.has(ty as never), ty).toBe(true);
    }
    expect(events.find((e) => e.type === 'message.blocked')?.visibility).toBe('admin');
  });
});

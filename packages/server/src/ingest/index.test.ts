// Batch ingest applies a whole batch set-based (look-ups up front, writes collected and made
// multi-row at the end). These tests cover what that could break: events of one batch that
// depend on each other, replays mixed into a batch, order, and batches past the chunk sizes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';

let t: TestServer;
let owner: Awaited<ReturnType<TestServer['tenant']>>;
let instanceToken: string;
let n = 0;
const runId = Math.random().toString(36).slice(2, 8);

function inbound(userId: string, text: string, extra: Record<string, unknown> = {}) {
  n++;
  const at = new Date().toISOString();
  return {
    id: `ing-${runId}-${n}`,
    type: 'message.inbound',
    occurred_at: at,
    data: {
      platform: 'qq',
      platform_user_id: userId,
      nickname: `user ${userId}`,
      platform_message_id: `pm-${n}`,
      session_id: `aiocqhttp:FriendMessage:${userId}`,
      kind: 'text',
      text,
      sent_at: at,
      ...extra,
    },
  };
}

function blocked(userId: string, text: string) {
  const e = inbound(userId, text);
  return {
    ...e,
    type: 'message.blocked',
    data: { ...e.data, message_status: 'blocked_by_blacklist', reason: 'spam' },
  };
}

function outbound(userId: string, text: string) {
  n++;
  const at = new Date().toISOString();
  return {
    id: `ing-${runId}-${n}`,
    type: 'message.outbound_sent',
    occurred_at: at,
    data: {
      platform: 'qq',
      platform_user_id: userId,
      session_id: `aiocqhttp:FriendMessage:${userId}`,
      kind: 'text',
      text,
      sent_at: at,
    },
  };
}

async function ingest(events: unknown[]) {
  const r = await t.call('POST', '/v1/sidecar/events', { token: instanceToken, body: { events } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { accepted: number; results: Array<{ id: string; message_id: string | null }> };
}

async function contactOf(user: string) {
  const r = await t.call('GET', `/v1/contacts?q=${encodeURIComponent(user)}&limit=100`, {
    token: owner.token,
  });
  return r.body.data.find((c: { platform_user_id: string }) => c.platform_user_id === user) as
    | { id: string; nickname: string | null }
    | undefined;
}

async function conversationsOf(user: string) {
  const contact = await contactOf(user);
  if (!contact) return [];
  const r = await t.call('GET', `/v1/conversations?contact_id=${contact.id}&limit=100`, {
    token: owner.token,
  });
  return r.body.data as Array<{
    id: string;
    state: string;
    message_count: number;
    unread_count: number;
    last_message_preview: string | null;
    assigned_agent_id: string | null;
    handled_by: string | null;
  }>;
}

async function messagesOf(conversationId: string) {
  const r = await t.call('GET', `/v1/conversations/${conversationId}/messages?limit=100`, {
    token: owner.token,
  });
  // Newest first from the API; oldest first here.
  return (r.body.data as Array<{ id: string; text: string; sender: string }>).slice().reverse();
}

const eventsSince = (seq: number) => t.services.events.read(owner.tenantId, seq, 100_000);
const lastSeq = () => t.services.events.lastSeq(owner.tenantId);

beforeAll(async () => {
  t = await createTestServer();
  owner = await t.tenant('BatchCo');
  const inst = await t.call('POST', '/v1/instances', {
    token: owner.token,
    body: { name: 'bot-1', platforms: ['qq'] },
  });
  expect(inst.status).toBe(201);
  instanceToken = inst.body.token;
});
afterAll(async () => {
  await t?.close();
});

describe('batch ingest', () => {
  it('several events from one new user open exactly one conversation', async () => {
    const user = `new-${runId}`;
    const before = await lastSeq();
    const r = await ingest([
      inbound(user, 'one'),
      inbound(user, 'two', { nickname: 'renamed' }),
      inbound(user, 'three', { nickname: 'renamed' }),
    ]);
    expect(r.accepted).toBe(3);
    const convs = await conversationsOf(user);
    expect(convs).toHaveLength(1);
    expect(convs[0]).toMatchObject({
      state: 'waiting',
      message_count: 3,
      unread_count: 3,
      last_message_preview: 'three',
    });
    expect((await contactOf(user))?.nickname).toBe('renamed');
    const log = await eventsSince(before);
    expect(log.map((e) => e.type)).toEqual([
      'contact.created',
      'conversation.created',
      'message.created',
      'contact.updated',
      'message.created',
      'message.created',
    ]);
    // Each message.created carries the conversation as it was after that message.
    const counts = log
      .filter((e) => e.type === 'message.created')
      .map((e) => (e.data.conversation as { message_count: number }).message_count);
    expect(counts).toEqual([1, 2, 3]);
  });

  it('applies only the new ids of a batch that mixes new and replayed ones', async () => {
    const user = `mix-${runId}`;
    const [a, b, c] = [inbound(user, 'a'), inbound(user, 'b'), inbound(user, 'c')];
    const first = await ingest([a, b]);
    const seq = await lastSeq();
    // Replayed ids (from an earlier batch, and repeated within this one) answer with the
    // message they produced the first time; only `c` is applied.
    const second = await ingest([b, c, a, c]);
    expect(second.accepted).toBe(4);
    expect(second.results[0]).toEqual(first.results[1]);
    expect(second.results[2]).toEqual(first.results[0]);
    expect(second.results[3]).toEqual(second.results[1]);
    expect(second.results[1]!.message_id).toMatch(/^msg_/);
    expect(new Set([...first.results, ...second.results].map((x) => x.message_id)).size).toBe(3);
    const [conv] = await conversationsOf(user);
    expect(conv?.message_count).toBe(3);
    expect((await messagesOf(conv!.id)).map((m) => m.text)).toEqual(['a', 'b', 'c']);
    expect((await eventsSince(seq)).filter((e) => e.type === 'message.created')).toHaveLength(1);
    // The whole batch again: same answer, nothing written.
    const seqAfter = await lastSeq();
    expect(await ingest([b, c, a, c])).toEqual(second);
    expect(await lastSeq()).toBe(seqAfter);
  });

  it('stores messages and numbers events in event order, across users', async () => {
    const [u1, u2] = [`ord1-${runId}`, `ord2-${runId}`];
    await ingest([inbound(u1, 'warm')]); // u1 exists before, u2 is new in the batch
    const before = await lastSeq();
    const batch = [
      inbound(u1, '1'),
      inbound(u2, '2'),
      inbound(u1, '3'),
      outbound(u2, '4'),
      inbound(u2, '5'),
      outbound(u1, '6'),
    ];
    const r = await ingest(batch);
    const log = await eventsSince(before);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => before + i + 1));
    const created = log.filter((e) => e.type === 'message.created');
    expect(created.map((e) => (e.data.message as { text: string }).text)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
    ]);
    expect(created.map((e) => (e.data.message as { id: string }).id)).toEqual(
      r.results.map((x) => x.message_id),
    );
    const [c1] = await conversationsOf(u1);
    const [c2] = await conversationsOf(u2);
    expect((await messagesOf(c1!.id)).map((m) => m.text)).toEqual(['warm', '1', '3', '6']);
    expect((await messagesOf(c2!.id)).map((m) => m.text)).toEqual(['2', '4', '5']);
    expect(c1).toMatchObject({ message_count: 4, unread_count: 3, handled_by: 'bot' });
    expect(c2).toMatchObject({ message_count: 3, unread_count: 2, last_message_preview: '5' });
  });

  it('a blocked message from a new user keeps to a closed conversation; a later one in the batch opens a new one', async () => {
    const user = `blk-${runId}`;
    await ingest([blocked(user, 'spam 1'), blocked(user, 'spam 2'), inbound(user, 'real')]);
    const convs = await conversationsOf(user);
    expect(convs.map((c) => c.state).sort()).toEqual(['closed', 'waiting']);
    const closed = convs.find((c) => c.state === 'closed')!;
    const open = convs.find((c) => c.state === 'waiting')!;
    expect((await messagesOf(closed.id)).map((m) => m.text)).toEqual(['spam 1', 'spam 2']);
    expect(open).toMatchObject({ message_count: 1, last_message_preview: 'real' });
  });

  it('handles a batch larger than every statement chunk (500 events, 300 users)', async () => {
    const before = await lastSeq();
    const batch = Array.from({ length: 500 }, (_, i) =>
      inbound(`big-${runId}-${i % 300}`, `bulk message ${i} needle${runId}`),
    );
    const r = await ingest(batch);
    expect(r.accepted).toBe(500);
    expect(new Set(r.results.map((x) => x.message_id)).size).toBe(500);
    const log = await eventsSince(before);
    // Per new user: contact.created + conversation.created; per event: message.created.
    expect(log).toHaveLength(300 * 2 + 500);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => before + i + 1));
    for (const i of [0, 7, 199, 299]) {
      const convs = await conversationsOf(`big-${runId}-${i}`);
      expect(convs).toHaveLength(1);
      expect(convs[0]!.message_count).toBe(i < 200 ? 2 : 1);
      expect((await messagesOf(convs[0]!.id)).map((m) => m.text)).toEqual(
        i < 200
          ? [`bulk message ${i} needle${runId}`, `bulk message ${i + 300} needle${runId}`]
          : [`bulk message ${i} needle${runId}`],
      );
    }
    // Every message reached the search index.
    const found = await t.call('GET', `/v1/messages/search?q=needle${runId}&limit=100`, {
      token: owner.token,
    });
    expect(found.status).toBe(200);
    expect(found.body.data.length).toBe(100);
    expect(found.body.has_more).toBe(true);
    // Replayed, it changes nothing.
    expect(await ingest(batch)).toEqual(r);
    expect(await lastSeq()).toBe(before + log.length);
    // A second batch for the same users updates 300 existing conversations and contacts.
    const again = Array.from({ length: 300 }, (_, i) =>
      inbound(`big-${runId}-${i}`, `again ${i}`, { nickname: `nick ${i}` }),
    );
    await ingest(again);
    for (const i of [0, 7, 199, 299]) {
      const [conv] = await conversationsOf(`big-${runId}-${i}`);
      expect(conv).toMatchObject({
        message_count: i < 200 ? 3 : 2,
        unread_count: i < 200 ? 3 : 2,
        last_message_preview: `again ${i}`,
      });
      expect((await contactOf(`big-${runId}-${i}`))?.nickname).toBe(`nick ${i}`);
    }
  });

  it('auto-assigns each new conversation of a batch, balancing load as it goes', async () => {
    const password = 'correct-horse-battery';
    const agents: string[] = [];
    for (const name of ['ag1', 'ag2']) {
      const email = `${name}-${runId}@batch.example`;
      const m = await t.call('POST', '/v1/members', {
        token: owner.token,
        body: { email, name, role: 'agent', password },
      });
      const l = await t.call('POST', '/v1/auth/login', { body: { email, password } });
      await t.call('PUT', '/v1/presence', { token: l.body.token, body: { status: 'online' } });
      await t.services.db
        .updateTable('agent_presence')
        .set({ connections: 1, heartbeat_at: t.services.now() })
        .where('member_id', '=', m.body.id)
        .execute();
      agents.push(m.body.id);
    }
    await t.call('PATCH', '/v1/tenant/settings/conversations', {
      token: owner.token,
      body: { auto_assign: true },
    });
    try {
      const users = [0, 1, 2, 3].map((i) => `route-${runId}-${i}`);
      const before = await lastSeq();
      await ingest(users.flatMap((u) => [inbound(u, `hi from ${u}`), inbound(u, 'again')]));
      const assigned: string[] = [];
      for (const u of users) {
        const [c] = await conversationsOf(u);
        expect(c).toMatchObject({ state: 'active', message_count: 2 });
        const texts = (await messagesOf(c!.id)).map((m) => m.sender);
        expect(texts).toEqual(['system', 'user', 'user']);
        assigned.push(c!.assigned_agent_id!);
      }
      // Routing saw the assignments made earlier in the same batch.
      expect(assigned.filter((a) => a === agents[0])).toHaveLength(2);
      expect(assigned.filter((a) => a === agents[1])).toHaveLength(2);
      const log = await eventsSince(before);
      expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => before + i + 1));
      expect(log.slice(0, 6).map((e) => e.type)).toEqual([
        'contact.created',
        'conversation.created',
        'conversation.state_changed',
        'message.created',
        'message.created',
        'message.created',
      ]);
    } finally {
      await t.call('PATCH', '/v1/tenant/settings/conversations', {
        token: owner.token,
        body: { auto_assign: false },
      });
      await t.services.db.updateTable('agent_presence').set({ connections: 0 }).execute();
    }
  });

  it('an outbound reply known only by its session goes to that session’s conversation', async () => {
    const user = `sess-${runId}`;
    const e = outbound(user, 'bot says hi');
    const { platform_user_id: _, ...data } = e.data;
    const r = await ingest([inbound(user, 'hello'), { ...e, data }]);
    expect(r.results[1]!.message_id).toMatch(/^msg_/);
    const [c] = await conversationsOf(user);
    expect((await messagesOf(c!.id)).map((m) => m.text)).toEqual(['hello', 'bot says hi']);
    expect(c).toMatchObject({ message_count: 2, handled_by: 'bot' });
  });
});

describe('adapter name of platform "other"', () => {
  it('is kept on the contact, for new and existing contacts, and absent for known platforms', async () => {
    const user = `satori-${runId}`;
    await ingest([inbound(user, 'hi', { platform: 'other', adapter: 'satori' })]);
    const created = await contactOf(user);
    expect(created).toMatchObject({ platform: 'other', adapter: 'satori' });
    // A later message without it keeps what is known; a new name replaces it.
    await ingest([inbound(user, 'again', { platform: 'other' })]);
    expect(await contactOf(user)).toMatchObject({ adapter: 'satori' });
    await ingest([inbound(user, 'moved', { platform: 'other', adapter: 'satori-v2' })]);
    expect(await contactOf(user)).toMatchObject({ adapter: 'satori-v2' });

    const qqUser = `qq-${runId}`;
    await ingest([inbound(qqUser, 'hello')]);
    expect(await contactOf(qqUser)).toMatchObject({ platform: 'qq', adapter: null });
  });

  it('rejects an empty or oversized adapter name with the field named', async () => {
    const bad = inbound(`x-${runId}`, 'hi', { platform: 'other', adapter: '' });
    const r = await t.call('POST', '/v1/sidecar/events', {
      token: instanceToken,
      body: { events: [bad] },
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body.error)).toContain('adapter');
  });
});

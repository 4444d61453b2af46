/**
 * End to end against the real server (@astrdesk/server, built): instances, a sidecar's
 * ingest, contacts, the conversation lifecycle, messages, search, settings, presence, webhook
 * endpoints with a real receiver (signatures checked with `client.webhooks.verify`), and the
 * realtime stream through the `ws` package.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createOperator, loadConfig, type RunningServer, startServer } from '@astrdesk/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AstrDesk } from './client.js';
import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  RealtimeError,
} from './error.js';
import type { RealtimeConnection } from './realtime.js';
import type { EventEnvelope } from './types.js';

let server: RunningServer;
let dataDir: string;
let owner: AstrDesk;
let ownerToken: string;
let agent: AstrDesk;
let agentId: string;
let sidecar: AstrDesk;
let instanceId: string;

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}
let receiver: http.Server;
let receiverURL: string;
const received: Received[] = [];

const password = 'correct-horse-battery';
let n = 0;

function inbound(userId: string, text: string) {
  n++;
  const now = new Date().toISOString();
  return {
    id: `sc-${n}-${Math.random().toString(36).slice(2)}`,
    type: 'message.inbound',
    occurred_at: now,
    data: {
      platform: 'qq',
      platform_user_id: userId,
      nickname: `小王 ${userId}`,
      platform_message_id: `pm-${n}`,
      session_id: `aiocqhttp:FriendMessage:${userId}`,
      kind: 'text',
      text,
      sent_at: now,
    },
  };
}

/** What a sidecar does: POST /v1/sidecar/events with its instance token. */
function ingest(...events: unknown[]) {
  return sidecar.post<{ accepted: number }>('/v1/sidecar/events', { body: { events } });
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverURL = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-sdk-e2e-conv-'));
  server = await startServer({
    config: loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      ASTRDESK_MASTER_KEY: randomBytes(32).toString('base64'),
      // The receiver is on loopback, which the SSRF guard refuses by default.
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    }),
  });
  const { token: operatorToken } = await createOperator(server.services.db, 'sdk e2e operator');
  const anonymous = new AstrDesk({ baseURL: server.url, apiKey: null });
  const signup = await anonymous.tenant.signup({
    company_name: 'Acme Ltd',
    contact_name: 'Li Lei',
    contact_email: 'lilei@acme.example',
    owner_password: password,
  });
  const operator = new AstrDesk({ baseURL: server.url, apiKey: operatorToken });
  await operator.admin.tenants.approve(signup.tenant.id);
  ownerToken = (await anonymous.auth.login({ email: 'lilei@acme.example', password })).token;
  owner = anonymous.withOptions({ apiKey: ownerToken });
  agentId = (await owner.members.create({ email: 'agent@acme.example', name: 'Agent', password }))
    .id;
  const agentSession = await anonymous.auth.login({ email: 'agent@acme.example', password });
  agent = anonymous.withOptions({ apiKey: agentSession.token });
});

afterAll(async () => {
  await server?.close();
  await new Promise((r) => receiver?.close(r));
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('SDK conversations against the real server', () => {
  it('registers instances and rotates their tokens', async () => {
    const created = await owner.instances.create({ name: 'prod-bot-1', platforms: ['qq'] });
    expect(created.token).toMatch(/^adi_/);
    expect(created.token.startsWith(created.token_prefix)).toBe(true);
    instanceId = created.id;
    const renamed = await owner.instances.update(created.id, { name: 'prod-bot-2' });
    expect(renamed.name).toBe('prod-bot-2');
    expect((await owner.instances.retrieve(created.id)).platforms).toEqual(['qq']);
    const rotated = await owner.instances.rotateToken(created.id);
    expect(rotated.token).not.toBe(created.token);
    sidecar = new AstrDesk({ baseURL: server.url, apiKey: rotated.token, maxRetries: 0 });

    const old = new AstrDesk({ baseURL: server.url, apiKey: created.token, maxRetries: 0 });
    await expect(
      old.post('/v1/sidecar/events', { body: { events: [inbound('u0', 'x')] } }),
    ).rejects.toBeInstanceOf(AuthenticationError);

    const spare = await owner.instances.create({ name: 'spare' });
    const ids: string[] = [];
    for await (const i of owner.instances.list({ limit: 1 })) ids.push(i.id);
    expect(ids).toEqual([spare.id, created.id]);
    expect(await owner.instances.delete(spare.id)).toEqual({ id: spare.id, deleted: true });
    await expect(owner.instances.retrieve(spare.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('streams events over realtime, delivers signed webhooks and runs a conversation', async () => {
    // A webhook endpoint for every event, and a realtime connection, before anything happens.
    const endpoint = await owner.webhookEndpoints.create({
      url: receiverURL,
      events: ['*'],
      description: 'CRM',
    });
    expect(endpoint.secret).toMatch(/^whsec_/);
    expect(endpoint.secret.endsWith(endpoint.secret_last4)).toBe(true);

    const conn = owner.realtime.connect({ WebSocket, minReconnectDelayMs: 10 });
    const events: EventEnvelope[] = [];
    conn.on('event', (e) => events.push(e));
    const ready = await new Promise((resolve) => conn.once('ready', resolve));
    expect(ready).toMatchObject({ type: 'ready', principal: { kind: 'member' } });
    const created: EventEnvelope[] = [];
    conn.on('message.created', (e) => created.push(e));

    // A user writes in through the sidecar.
    const ingested = await ingest(
      inbound('10001', '我想申请退款'),
      inbound('10001', 'order 12345 please'),
    );
    expect(ingested.accepted).toBe(2);

    const [contact] = (await owner.contacts.list({ platform: 'qq', q: '10001' })).data;
    expect(contact?.platform_user_id).toBe('10001');
    expect((await owner.contacts.retrieve(contact!.id)).nickname).toBe('小王 10001');
    expect((await owner.contacts.list({ q: 'nobody' })).data).toEqual([]);

    const waiting = await owner.conversations.list({ state: 'waiting', unread: true });
    expect(waiting.data).toHaveLength(1);
    const conv = waiting.data[0]!;
    expect(conv).toMatchObject({
      contact_id: contact!.id,
      instance_id: instanceId,
      unread_count: 2,
    });

    await waitFor('two message.created events', () => (created.length >= 2 ? true : undefined));
    expect(created.every((e) => e.type === 'message.created')).toBe(true);
    const seqs = events.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);

    // The lifecycle.
    const accepted = await owner.conversations.accept(conv.id);
    expect(accepted.state).toBe('active');
    await expect(owner.conversations.accept(conv.id)).rejects.toMatchObject({
      constructor: ConflictError,
      code: 'invalid_state_transition',
      details: { current_state: 'active' },
    });
    const reply = await owner.conversations.messages.create(conv.id, { text: '您好，请稍等' });
    expect(reply.message.sender).toBe('agent');
    expect(reply.delivery?.status).toBe('queued');
    const note = await owner.conversations.messages.create(conv.id, {
      text: 'VIP customer',
      internal: true,
    });
    expect(note.delivery).toBeNull();
    expect(note.message.internal).toBe(true);

    const transferring = await owner.conversations.transfer(conv.id, {
      to_agent_id: agentId,
      note: 'billing',
    });
    expect(transferring.transfer).toMatchObject({ to_agent_id: agentId, note: 'billing' });
    expect((await agent.conversations.decline(conv.id)).state).toBe('active');
    await owner.conversations.transfer(conv.id, { to_agent_id: agentId });
    const taken = await agent.conversations.accept(conv.id);
    expect(taken.assigned_agent_id).toBe(agentId);
    expect((await agent.conversations.release(conv.id)).state).toBe('waiting');
    expect((await owner.conversations.assign(conv.id, { agent_id: agentId })).state).toBe('active');
    const read = await agent.conversations.markRead(conv.id);
    expect(read.unread_count).toBe(0);
    const closed = await agent.conversations.close(conv.id, { reason: 'resolved' });
    expect(closed).toMatchObject({ state: 'closed', close_reason: 'resolved' });
    await expect(
      owner.conversations.messages.create(conv.id, { text: 'late' }),
    ).rejects.toMatchObject({ constructor: ConflictError, code: 'conversation_closed' });
    const rated = await owner.conversations.rate(conv.id, { score: 5, comment: 'quick' });
    expect(rated.rating).toMatchObject({ score: 5, comment: 'quick' });
    expect((await owner.conversations.reopen(conv.id)).state).toBe('waiting');
    await owner.conversations.close(conv.id);

    const { data: transitions } = await owner.conversations.transitions(conv.id);
    expect(transitions.map((t) => t.action)).toEqual([
      'open',
      'accept',
      'transfer',
      'decline',
      'transfer',
      'accept',
      'release',
      'assign',
      'close',
      'reopen',
      'close',
    ]);
    expect((await owner.conversations.retrieve(conv.id)).state).toBe('closed');
    const closedList = await owner.conversations.list({ contact_id: contact!.id, state: 'closed' });
    expect(closedList.data.map((c) => c.id)).toEqual([conv.id]);
    expect((await owner.conversations.list({ state: 'waiting' })).data).toEqual([]);

    // Messages, newest first across pages, and the page around one of them.
    const texts: string[] = [];
    for await (const m of owner.conversations.messages.list(conv.id, { limit: 3 })) {
      if (m.sender !== 'system') texts.push(m.text ?? '');
    }
    expect(texts).toEqual(['VIP customer', '您好，请稍等', 'order 12345 please', '我想申请退款']);
    const forward = await owner.conversations.messages.list(conv.id, {
      direction: 'newer',
      limit: 2,
    });
    expect(forward.data[0]!.text).toBe('我想申请退款');
    expect(forward.hasNewerPage()).toBe(true);
    expect((await forward.getNewerPage()).data[0]!.text).not.toBe('我想申请退款');
    const around = await owner.conversations.messages.list(conv.id, {
      around: reply.message.id,
      limit: 3,
    });
    expect(around.data.map((m) => m.id)).toContain(reply.message.id);
    expect(around.hasOlderPage()).toBe(true);
    const older = await around.getOlderPage();
    expect(older.data.every((m) => m.created_at <= reply.message.created_at)).toBe(true);

    // Search.
    const hits: string[] = [];
    for await (const hit of owner.messages.search({ q: '退款', limit: 1 }))
      hits.push(hit.snippet ?? '');
    expect(hits).toEqual(['我想申请<mark>退款</mark>']);
    const byFilter = await owner.messages.search({
      conversation_id: conv.id,
      kind: 'text',
      nickname: '小王',
      from: new Date(Date.now() - 60_000),
    });
    expect(byFilter.data.length).toBeGreaterThanOrEqual(2);
    await expect(owner.messages.search({ q: '!!!' })).rejects.toBeInstanceOf(BadRequestError);

    // Realtime saw the lifecycle; closing and resuming from an older seq replays it once.
    await waitFor('the last close', () =>
      events.filter((e) => e.type === 'conversation.state_changed').length >= 10 ? true : undefined,
    );
    const allSeqs = events.map((e) => e.seq);
    conn.close();
    expect((await conn.closed).error).toBeUndefined();
    const from = allSeqs[allSeqs.length - 3]!;
    const resumed = owner.realtime.connect({ WebSocket, lastSeq: from });
    const replayed: number[] = [];
    resumed.on('event', (e) => replayed.push(e.seq));
    await waitFor('the replay', () => (replayed.length >= 2 ? true : undefined));
    expect(replayed).toEqual(allSeqs.slice(-2));
    resumed.close();

    // The webhooks: one per event, each signed with the endpoint's secret.
    const lastSeq = allSeqs.at(-1)!;
    const parsed = await waitFor('webhook deliveries', async () => {
      const evs = await Promise.all(
        received.map((r) =>
          owner.webhooks.verify(r.body, r.headers['astrdesk-signature'], endpoint.secret),
        ),
      );
      return evs.some((e) => e.seq === lastSeq) ? evs : undefined;
    });
    expect(parsed.find((e) => e.seq === created[0]!.seq)).toEqual(created[0]);
    await expect(
      owner.webhooks.verify(
        received[0]!.body,
        received[0]!.headers['astrdesk-signature'],
        'whsec_wrong',
      ),
    ).rejects.toMatchObject({ code: 'signature_mismatch' });

    const deliveries = await owner.webhookEndpoints.deliveries.list(endpoint.id, {
      status: 'succeeded',
    });
    expect(deliveries.data.length).toBeGreaterThan(0);
    const delivery = deliveries.data[0]!;
    const detail = await owner.webhookEndpoints.deliveries.retrieve(endpoint.id, delivery.id);
    expect(detail.attempt_log[0]).toMatchObject({ status_code: 204, error: null });
    const before = received.length;
    const again = await owner.webhookEndpoints.deliveries.redeliver(endpoint.id, delivery.id);
    expect(again.status).toBe('pending');
    await waitFor('the redelivery', () => (received.length > before ? true : undefined));
    const redelivered = received.at(-1)!;
    expect(redelivered.headers['astrdesk-delivery-id']).toBe(delivery.id);
    expect(
      (
        await owner.webhooks.verify(
          redelivered.body,
          redelivered.headers['astrdesk-signature'],
          endpoint.secret,
        )
      ).seq,
    ).toBe(delivery.event_seq);

    // Endpoint management.
    const paused = await owner.webhookEndpoints.update(endpoint.id, {
      enabled: false,
      description: null,
    });
    expect(paused).toMatchObject({ enabled: false, description: null });
    await expect(
      owner.webhookEndpoints.deliveries.redeliver(endpoint.id, delivery.id),
    ).rejects.toMatchObject({ constructor: ConflictError, code: 'conflict' });
    const rotated = await owner.webhookEndpoints.rotateSecret(endpoint.id);
    expect(rotated.secret).not.toBe(endpoint.secret);
    expect((await owner.webhookEndpoints.retrieve(endpoint.id)).secret_last4).toBe(
      rotated.secret.slice(-4),
    );
    expect((await owner.webhookEndpoints.list()).data.map((e) => e.id)).toEqual([endpoint.id]);
    await expect(
      owner.webhookEndpoints.create({ url: 'ftp://example.com', events: ['*'] }),
    ).rejects.toBeInstanceOf(BadRequestError);
    expect(await owner.webhookEndpoints.delete(endpoint.id)).toEqual({
      id: endpoint.id,
      deleted: true,
    });
  });

  it('reads and changes settings and presence', async () => {
    const settings = await owner.conversations.settings.retrieve();
    expect(typeof settings.auto_assign).toBe('boolean');
    const changed = await owner.conversations.settings.update({ inactivity_close_minutes: 120 });
    expect(changed).toEqual({ ...settings, inactivity_close_minutes: 120 });
    await expect(agent.conversations.settings.update({ auto_assign: true })).rejects.toMatchObject({
      status: 403,
      code: 'insufficient_scope',
    });

    const me = await agent.presence.set({ status: 'online' });
    expect(me).toMatchObject({ member_id: agentId, explicit_status: 'online' });
    const { data } = await owner.presence.list();
    expect(data.find((p) => p.member_id === agentId)?.explicit_status).toBe('online');
  });

  it('stops reconnecting when the credential is refused', async () => {
    const revoked = new AstrDesk({ baseURL: server.url, apiKey: 'ads_not_a_session' });
    const conn: RealtimeConnection = revoked.realtime.connect({
      WebSocket,
      minReconnectDelayMs: 10,
    });
    const err = await new Promise((resolve) => conn.once('error', resolve));
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(conn.state).toBe('closed');

    // An API key without conversations:read is refused at the handshake, then by the check.
    const key = await owner.apiKeys.create({ name: 'no realtime', scopes: ['tenant:read'] });
    const keyClient = new AstrDesk({ baseURL: server.url, apiKey: key.secret });
    const denied = keyClient.realtime.connect({ WebSocket, minReconnectDelayMs: 10 });
    const scopeErr = await new Promise((resolve) => denied.once('error', resolve));
    expect(scopeErr).toBeInstanceOf(RealtimeError);
    expect(scopeErr).toMatchObject({ code: 'insufficient_scope' });
  });
});

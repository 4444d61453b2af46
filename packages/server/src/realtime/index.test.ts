/** `GET /v1/realtime` against a real server on loopback, with real `ws` clients. */
import http from 'node:http';
import net from 'node:net';
import { REALTIME_CLOSE_CODES } from '@astrdesk/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../infra/crypto/index.js';
import {
  attachRealtime,
  type ConnectionChange,
  type Realtime,
  type RealtimeOptions,
} from './index.js';
import {
  type RealtimeTestServer,
  startRealtimeServer,
  type TenantCreds,
  TestClient,
  waitUntil,
} from './testing.js';

let t: RealtimeTestServer;
let a: TenantCreds;
let b: TenantCreds;
let keyA: { id: string; secret: string };
const clients: TestClient[] = [];
const extra: Array<{ realtime: Realtime; server: http.Server }> = [];

/** Connects and remembers the client so it is closed after the file. */
function connect(...args: Parameters<typeof TestClient.connect>) {
  const c = TestClient.connect(...args);
  clients.push(c);
  return c;
}

/** A second realtime endpoint on its own HTTP server (same services) with test-sized options. */
async function extraEndpoint(options: RealtimeOptions) {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const realtime = attachRealtime(server, t.server.services, options);
  extra.push({ realtime, server });
  const port = (server.address() as net.AddressInfo).port;
  return { realtime, wsUrl: `ws://127.0.0.1:${port}` };
}

beforeAll(async () => {
  t = await startRealtimeServer({ REALTIME_RESUME_WINDOW: '20' });
  a = await t.tenant('Acme');
  b = await t.tenant('Globex');
  keyA = await t.apiKey(a.token, ['conversations:read']);
});

afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  for (const x of extra) {
    await x.realtime.close();
    await new Promise((r) => x.server.close(r));
  }
  await t?.close();
});

describe('connecting', () => {
  it('pushes committed events as {type:"event", event:{seq,id,type,data,created_at}}', async () => {
    const c = connect(t.wsUrl, keyA.secret);
    const ready = await c.ready();
    expect(ready).toMatchObject({ type: 'ready', principal: { kind: 'api_key', id: keyA.id } });
    const [e] = await t.emit(a.tenantId, 1);
    await c.untilSeq(e!.seq);
    expect(e!.seq).toBe(ready.last_seq + 1);
    expect(c.events).toEqual([
      {
        seq: e!.seq,
        id: e!.id,
        type: 'message.created',
        data: { i: 0, text: 'hello 0' },
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      },
    ]);
    expect(c.frames[0]?.type).toBe('ready');
  });

  it('accepts the credential as a `token` query parameter (browsers)', async () => {
    const c = connect(t.wsUrl, a.token, { via: 'query' });
    const ready = await c.ready();
    expect(ready.principal).toEqual({ kind: 'member', id: a.ownerId });
    const [e] = await t.emit(a.tenantId, 1);
    await c.untilSeq(e!.seq);
  });

  it('logs one access line per upgrade, without the token', async () => {
    const c = connect(t.wsUrl, a.token, { via: 'query' });
    await c.ready();
    const refused = connect(t.wsUrl, 'ads_wrong-token-in-query', { via: 'query' });
    await refused.opened;
    const lines = t.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.route === '/v1/realtime');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          status: 101,
          tenant_id: a.tenantId,
          principal: `member:${a.ownerId}`,
        }),
        expect.objectContaining({ status: 401, tenant_id: null }),
      ]),
    );
    const all = t.logs.join('\n');
    expect(all).not.toContain(a.token);
    expect(all).not.toContain('ads_wrong-token-in-query');
  });

  it('refuses before the upgrade: 401 without or with a bad credential', async () => {
    const none = connect(t.wsUrl, undefined);
    expect(await none.opened).toBe(false);
    expect(none.refused?.status).toBe(401);
    expect(none.refused?.body).toEqual({
      error: {
        type: 'authentication_error',
        code: 'unauthenticated',
        message: expect.any(String),
        request_id: expect.any(String),
      },
    });

    const bad = connect(t.wsUrl, 'adk_not-a-real-key');
    expect(await bad.opened).toBe(false);
    expect(bad.refused?.status).toBe(401);
    expect(bad.refused?.body.error.code).toBe('invalid_token');

    const badQuery = connect(t.wsUrl, 'ads_nope', { via: 'query' });
    expect(await badQuery.opened).toBe(false);
    expect(badQuery.refused?.status).toBe(401);
  });

  it('refuses operator and instance tokens, and keys without conversations:read (403)', async () => {
    const op = connect(t.wsUrl, t.operatorToken);
    expect(await op.opened).toBe(false);
    expect(op.refused?.status).toBe(403);
    expect(op.refused?.body.error.code).toBe('forbidden');

    const instanceToken = `adi_${'x'.repeat(43)}`;
    const now = Date.now();
    await t.server.services.db
      .insertInto('instances')
      .values({
        id: 'inst_realtimetest0000000000000',
        tenant_id: a.tenantId,
        name: 'pod',
        platforms: '[]',
        token_hash: sha256Hex(instanceToken),
        token_prefix: instanceToken.slice(0, 12),
        created_at: now,
        updated_at: now,
        last_seen_at: null,
      })
      .execute();
    const inst = connect(t.wsUrl, instanceToken);
    expect(await inst.opened).toBe(false);
    expect(inst.refused?.status).toBe(403);
    expect(inst.refused?.body.error.code).toBe('forbidden');

    const noScope = await t.apiKey(a.token, ['blacklist:read']);
    const k = connect(t.wsUrl, noScope.secret);
    expect(await k.opened).toBe(false);
    expect(k.refused?.status).toBe(403);
    expect(k.refused?.body.error).toMatchObject({
      code: 'insufficient_scope',
      details: { required_scope: 'conversations:read' },
    });
  });

  it('answers 400 for a bad last_seq and 404 for other upgrade paths', async () => {
    const c = new TestClient(`${t.wsUrl}/v1/realtime?last_seq=-3`, {
      headers: { authorization: `Bearer ${keyA.secret}` },
    });
    clients.push(c);
    expect(await c.opened).toBe(false);
    expect(c.refused?.status).toBe(400);
    expect(c.refused?.body.error).toMatchObject({ code: 'validation_failed', param: 'last_seq' });

    const other = connect(t.wsUrl, keyA.secret, { path: '/v1/elsewhere' });
    expect(await other.opened).toBe(false);
    expect(other.refused?.status).toBe(404);
  });

  it("refuses a suspended tenant's credentials (403) and closes its open sockets 4001", async () => {
    const s = await t.tenant('Initech');
    const key = await t.apiKey(s.token, ['conversations:read']);
    const { realtime, wsUrl } = await extraEndpoint({});
    const open = connect(wsUrl, key.secret);
    await open.ready();
    const r = await t.call('POST', `/v1/admin/tenants/${s.tenantId}/suspend`, {
      token: t.operatorToken,
      body: { reason: 'test' },
    });
    expect(r.status).toBe(200);
    const refused = connect(t.wsUrl, key.secret);
    expect(await refused.opened).toBe(false);
    expect(refused.refused?.status).toBe(403);
    expect(refused.refused?.body.error.code).toBe('tenant_not_active');

    await realtime.revalidate();
    expect(await open.closed()).toEqual({
      code: REALTIME_CLOSE_CODES.unauthorized,
      reason: 'credential no longer valid',
    });
  });

  it('closes a socket 4001 once its API key is revoked', async () => {
    const key = await t.apiKey(a.token, ['conversations:read']);
    const { realtime, wsUrl } = await extraEndpoint({});
    const c = connect(wsUrl, key.secret);
    await c.ready();
    const keep = connect(wsUrl, keyA.secret);
    await keep.ready();
    expect((await t.call('DELETE', `/v1/api-keys/${key.id}`, { token: a.token })).status).toBe(200);
    await realtime.revalidate();
    expect((await c.closed()).code).toBe(4001);
    const [e] = await t.emit(a.tenantId, 1);
    await keep.untilSeq(e!.seq);
    expect(keep.closeInfo).toBeUndefined();
  });
});

describe('what a socket sees', () => {
  it("never receives another tenant's events", async () => {
    const ca = connect(t.wsUrl, keyA.secret);
    const cb = connect(t.wsUrl, b.token);
    await Promise.all([ca.ready(), cb.ready()]);
    const fromA = await t.emit(a.tenantId, 3);
    const [fromB] = await t.emit(b.tenantId, 1);
    await ca.untilSeq(fromA[2]!.seq);
    await cb.untilSeq(fromB!.seq);
    // b's socket got b's event and nothing else; a's got exactly a's three.
    expect(cb.events.map((e) => e.id)).toEqual([fromB!.id]);
    expect(ca.events.map((e) => e.id)).toEqual(fromA.map((e) => e.id));
  });

  it('shows admin-only events to owners, admins and blacklist:read keys, not to agents', async () => {
    const agent = await t.member(a.token, 'agent');
    const admin = await t.member(a.token, 'admin');
    const blKey = await t.apiKey(a.token, ['conversations:read', 'blacklist:read']);
    const viewers = {
      owner: connect(t.wsUrl, a.token),
      admin: connect(t.wsUrl, admin.token),
      blKey: connect(t.wsUrl, blKey.secret),
      agent: connect(t.wsUrl, agent.token),
      plainKey: connect(t.wsUrl, keyA.secret),
    };
    await Promise.all(Object.values(viewers).map((c) => c.ready()));
    const [blocked] = await t.emit(a.tenantId, 1, { visibility: 'admin', type: 'message.blocked' });
    const [after] = await t.emit(a.tenantId, 1);
    for (const c of Object.values(viewers)) await c.untilSeq(after!.seq);
    for (const c of [viewers.owner, viewers.admin, viewers.blKey]) {
      expect(c.seqs).toEqual([blocked!.seq, after!.seq]);
    }
    for (const c of [viewers.agent, viewers.plainKey]) expect(c.seqs).toEqual([after!.seq]);
  });
});

describe('resuming', () => {
  it('delivers exactly the missed events in order, then continues live', async () => {
    const first = connect(t.wsUrl, keyA.secret);
    await first.ready();
    const [seen] = await t.emit(a.tenantId, 1);
    await first.untilSeq(seen!.seq);
    await first.close();

    const missed = await t.emit(a.tenantId, 5);
    const again = connect(t.wsUrl, keyA.secret, { lastSeq: seen!.seq });
    const ready = await again.ready();
    expect(ready.last_seq).toBe(missed[4]!.seq);
    await again.untilSeq(missed[4]!.seq);
    const live = await t.emit(a.tenantId, 2);
    await again.untilSeq(live[1]!.seq);
    expect(again.events.map((e) => e.id)).toEqual([...missed, ...live].map((e) => e.id));
    expect(again.seqs).toEqual([...missed, ...live].map((e) => e.seq));
    expect(again.frames.filter((f) => f.type === 'resync_required')).toEqual([]);
  });

  it('replays across several log pages while live events keep arriving', async () => {
    const { wsUrl } = await extraEndpoint({ replayPageSize: 3 });
    const start = await t.server.services.events.lastSeq(a.tenantId);
    await t.emit(a.tenantId, 10);
    const c = connect(wsUrl, keyA.secret, { lastSeq: start });
    const concurrent = t.emit(a.tenantId, 4);
    await c.ready();
    const more = await concurrent;
    await c.untilSeq(more[3]!.seq);
    const want = Array.from({ length: 14 }, (_, i) => start + 1 + i);
    expect(c.seqs).toEqual(want);
  });

  it('answers resync_required when last_seq is beyond the resume window, then streams on', async () => {
    const head = await t.server.services.events.lastSeq(a.tenantId);
    await t.emit(a.tenantId, 25);
    const c = connect(t.wsUrl, keyA.secret, { lastSeq: head });
    await c.ready();
    const resync = await waitUntil(
      () => c.frames.find((f) => f.type === 'resync_required'),
      'resync_required',
    );
    expect(resync).toEqual({
      type: 'resync_required',
      reason: 'window_exceeded',
      last_seq: head + 25,
    });
    const [e] = await t.emit(a.tenantId, 1);
    await c.untilSeq(e!.seq);
    expect(c.seqs).toEqual([e!.seq]);
  });

  it('answers resync_required when the log was trimmed past last_seq, or last_seq is ahead', async () => {
    const [old] = await t.emit(b.tenantId, 3);
    await t.server.services.db
      .deleteFrom('events')
      .where('tenant_id', '=', b.tenantId)
      .where('seq', '<=', old!.seq + 1)
      .execute();
    const head = await t.server.services.events.lastSeq(b.tenantId);
    const c = connect(t.wsUrl, b.token, { lastSeq: old!.seq - 1 });
    await c.ready();
    expect(
      await waitUntil(() => c.frames.find((f) => f.type === 'resync_required'), 'resync'),
    ).toEqual({ type: 'resync_required', reason: 'log_trimmed', last_seq: head });

    const ahead = connect(t.wsUrl, b.token, { lastSeq: head + 100 });
    await ahead.ready();
    expect(
      await waitUntil(() => ahead.frames.find((f) => f.type === 'resync_required'), 'resync'),
    ).toMatchObject({ reason: 'ahead_of_log', last_seq: head });
  });
});

describe('client frames and heartbeats', () => {
  it('answers ping with pong and accepts ack', async () => {
    const c = connect(t.wsUrl, keyA.secret);
    await c.ready();
    c.send({ type: 'ack', seq: 1 });
    c.send({ type: 'ping', ts: 42 });
    expect(await waitUntil(() => c.frames.find((f) => f.type === 'pong'), 'pong')).toEqual({
      type: 'pong',
      ts: 42,
    });
    expect(c.closeInfo).toBeUndefined();
  });

  it('closes malformed frames with 1008 and keeps serving everyone else', async () => {
    const bystander = connect(t.wsUrl, keyA.secret);
    await bystander.ready();
    const cases: Array<[string, (c: TestClient) => void, RegExp]> = [
      ['not JSON', (c) => c.send('{nope'), /malformed JSON/],
      ['unknown type', (c) => c.send({ type: 'subscribe', channel: 'x' }), /unknown or invalid/],
      ['extra fields', (c) => c.send({ type: 'ping', evil: true }), /unknown or invalid/],
      ['bad ack', (c) => c.send({ type: 'ack', seq: 'x' }), /unknown or invalid/],
      ['not an object', (c) => c.send('42'), /unknown or invalid/],
      ['binary', (c) => c.ws.send(Buffer.from([1, 2, 3]), { binary: true }), /binary/],
    ];
    for (const [what, send, reason] of cases) {
      const c = connect(t.wsUrl, keyA.secret);
      await c.ready();
      send(c);
      const info = await c.closed();
      expect(info.code, what).toBe(1008);
      expect(info.reason, what).toMatch(reason);
    }
    const [e] = await t.emit(a.tenantId, 1);
    await bystander.untilSeq(e!.seq);
    expect(bystander.closeInfo).toBeUndefined();
  });

  it('survives garbage at the WebSocket protocol level', async () => {
    const bystander = connect(t.wsUrl, keyA.secret);
    await bystander.ready();
    const { port } = new URL(t.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    let got = '';
    const response = new Promise<string>((resolve) => {
      sock.on('data', (d) => {
        got += d.toString('latin1');
      });
      sock.on('close', () => resolve(got));
      sock.on('error', () => resolve(got));
    });
    sock.write(
      [
        'GET /v1/realtime HTTP/1.1',
        'Host: 127.0.0.1',
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        `Authorization: Bearer ${keyA.secret}`,
        '',
        '',
      ].join('\r\n'),
    );
    await waitUntil(() => got.includes('"type":"ready"'), 'upgrade and ready frame');
    // An unmasked frame with a reserved opcode: a protocol error, not a message.
    sock.write(Buffer.from([0x83, 0x05, 1, 2, 3, 4, 5]));
    const all = await response;
    expect(all).toMatch(/^HTTP\/1\.1 101/);
    // ws answered with a close frame carrying 1002 (protocol error) and dropped the socket.
    expect(all.endsWith(String.fromCharCode(0x88, 0x02, 0x03, 0xea))).toBe(true);
    const [e] = await t.emit(a.tenantId, 1);
    await bystander.untilSeq(e!.seq);
    expect((await t.call('GET', '/healthz')).status).toBe(200);
  });

  it('terminates sockets that stop answering pings; keeps those that answer', async () => {
    const { wsUrl, realtime } = await extraEndpoint({ heartbeatIntervalMs: 40 });
    const silent = connect(wsUrl, keyA.secret, { autoPong: false });
    const alive = connect(wsUrl, keyA.secret);
    await Promise.all([silent.ready(), alive.ready()]);
    expect((await silent.closed()).code).toBe(1006);
    expect(silent.pings).toBeGreaterThanOrEqual(2);
    expect(realtime.stats().heartbeatTimeouts).toBeGreaterThanOrEqual(1);
    const seen = alive.pings;
    await waitUntil(() => alive.pings >= seen + 4, 'four more pings');
    expect(alive.closeInfo).toBeUndefined();
  });
});

describe('slow consumers', () => {
  it('closes a socket that stops reading with 4008; it resumes with last_seq', async () => {
    const { realtime, wsUrl } = await extraEndpoint({ maxBufferedBytes: 64 * 1024 });
    const c = connect(wsUrl, keyA.secret);
    const ready = await c.ready();
    const bystander = connect(wsUrl, keyA.secret);
    await bystander.ready();
    // Stop reading: the kernel buffers fill, then ws's, then the limit trips.
    (c.ws as unknown as { _socket: net.Socket })._socket.pause();
    const payload = 'x'.repeat(32 * 1024);
    let last = ready.last_seq;
    for (let i = 0; i < 200 && realtime.stats().slowConsumerCloses === 0; i++) {
      const batch = await t.emit(a.tenantId, 20, { payload });
      last = batch[batch.length - 1]!.seq;
      await bystander.untilSeq(last);
    }
    expect(realtime.stats().slowConsumerCloses).toBe(1);
    (c.ws as unknown as { _socket: net.Socket })._socket.resume();
    expect(await c.closed()).toEqual({
      code: REALTIME_CLOSE_CODES.slowConsumer,
      reason: 'slow consumer: reconnect with last_seq',
    });
    // What arrived is a gap-free prefix; resuming from its end delivers the rest.
    const got = c.seqs;
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => ready.last_seq + 1 + i));
    const resumed = connect(wsUrl, keyA.secret, { lastSeq: got.at(-1) ?? ready.last_seq });
    await resumed.untilSeq(last);
    expect([...got, ...resumed.seqs]).toEqual(
      Array.from({ length: last - ready.last_seq }, (_, i) => ready.last_seq + 1 + i),
    );
    expect(bystander.closeInfo).toBeUndefined();
  });
});

describe('presence and shutdown', () => {
  it("counts a member's sockets in agent_presence and tells listeners", async () => {
    const { realtime, wsUrl } = await extraEndpoint({});
    const changes: ConnectionChange[] = [];
    realtime.onConnectionChange((c) => changes.push(c));
    const agent = await t.member(a.token, 'agent');
    const row = () =>
      t.server.services.db
        .selectFrom('agent_presence')
        .selectAll()
        .where('member_id', '=', agent.id)
        .executeTakeFirst();
    const c1 = connect(wsUrl, agent.token);
    const c2 = connect(wsUrl, agent.token, { via: 'query' });
    await Promise.all([c1.ready(), c2.ready()]);
    await waitUntil(async () => (await row())?.connections === 2, 'two connections');
    expect(await row()).toMatchObject({ tenant_id: a.tenantId, explicit_status: 'online' });
    await c1.close();
    await waitUntil(async () => (await row())?.connections === 1, 'one connection');
    await c2.close();
    await waitUntil(async () => (await row())?.connections === 0, 'no connection');
    await waitUntil(() => changes.length === 4, 'four changes');
    expect(changes.map((c) => [c.type, c.memberId, c.memberConnections])).toEqual([
      ['connected', agent.id, expect.any(Number)],
      ['connected', agent.id, expect.any(Number)],
      ['disconnected', agent.id, 1],
      ['disconnected', agent.id, 0],
    ]);
    expect(
      changes
        .slice(0, 2)
        .map((c) => c.memberConnections)
        .sort(),
    ).toEqual([1, 2]);
    const k = connect(wsUrl, keyA.secret);
    await k.ready();
    await waitUntil(() => changes.length === 5, 'api key change');
    expect(changes[4]).toMatchObject({
      type: 'connected',
      memberId: undefined,
      memberConnections: undefined,
      principal: { kind: 'api_key', id: keyA.id },
    });
  });

  it('close() closes every socket with 1001 and stops accepting', async () => {
    const { realtime, wsUrl } = await extraEndpoint({});
    const c = connect(wsUrl, keyA.secret);
    await c.ready();
    await realtime.close();
    expect((await c.closed()).code).toBe(1001);
    expect(realtime.stats().sockets).toBe(0);
  });
});

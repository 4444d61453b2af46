import { once } from 'node:events';
import path from 'node:path';
import { SidecarFrame } from '@astrdesk/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { Blacklist } from '../blacklist/index.js';
import {
  entry,
  FakeControlServer,
  INSTANCE_TOKEN,
  tempDir,
  testLogger,
  waitFor,
} from '../test-utils/index.js';
import { ControlChannel, type ControlChannelOptions, controlUrl } from './index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  opts: { server?: FakeControlServer; token?: string } & Partial<ControlChannelOptions> = {},
) {
  const server = opts.server ?? (await FakeControlServer.start({ token: INSTANCE_TOKEN }));
  if (!opts.server) cleanups.push(() => server.close());
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const bl = Blacklist.open(path.join(dir, 'blacklist.db'));
  cleanups.push(() => bl.close());
  const channel = new ControlChannel({
    serverUrl: server.url,
    token: opts.token ?? INSTANCE_TOKEN,
    version: '0.1.0-test',
    blacklist: bl,
    log: testLogger(),
    reconnectMinMs: 20,
    reconnectMaxMs: 100,
    unauthorizedRetryMs: 400,
    heartbeatMs: 5000,
    resyncTimeoutMs: 5000,
    ...opts,
  });
  cleanups.push(() => channel.close());
  return { server, bl, channel, dir };
}

describe('controlUrl', () => {
  it('maps http(s) to ws(s) and keeps a base path', () => {
    expect(controlUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/v1/sidecar/connect');
    expect(controlUrl('https://desk.example.com/astrdesk/')).toBe(
      'wss://desk.example.com/astrdesk/v1/sidecar/connect',
    );
  });
});

describe('ControlChannel against a fake control server', () => {
  it('says hello since 0, applies a streamed snapshot (several chunks) and acks it, then a live delta', async () => {
    const server = await FakeControlServer.start({ token: INSTANCE_TOKEN, chunkSize: 2 });
    cleanups.push(() => server.close());
    server.commit(
      { upsert: entry(1) },
      { upsert: entry(2) },
      { upsert: entry(3) },
      { upsert: entry(4) },
      { upsert: entry(5) },
    );
    const { bl, channel } = await setup({ server });
    const synced = once(channel, 'synced');
    channel.start();
    const [ev] = await synced;
    expect(ev).toEqual({ kind: 'snapshot', revision: 5, entries: 5 });
    const hello = server.framesOf('hello')[0]!;
    expect(hello).toEqual({ v: 1, type: 'hello', since: 0, version: '0.1.0-test', entries: 0 });
    // 5 entries in chunks of 2: three chunks were streamed.
    expect(bl.checksum()).toBe(server.checksum());
    await waitFor(() => server.acks().includes(5), { what: 'ack 5' });
    expect(channel.connected).toBe(true);
    expect(channel.instanceId).toBe('inst_FAKE');

    // A live change.
    const next = once(channel, 'synced');
    server.commit(
      { upsert: entry(6, { reason: null }) },
      { remove: { platform: 'qq', platform_user_id: 'u1' } },
    );
    expect((await next)[0]).toMatchObject({ kind: 'delta', revision: 7 });
    expect(bl.lookup('qq', 'u6')).toMatchObject({ reason: null });
    expect(bl.lookup('qq', 'u1')).toBeUndefined();
    expect(bl.checksum()).toBe(server.checksum());
    await waitFor(() => server.acks().includes(7), { what: 'ack 7' });
    // Every frame the sidecar sent is valid under the protocol.
    for (const f of server.received) expect(SidecarFrame.safeParse(f).success).toBe(true);
    expect(bl.lag).toBe(0);
  });

  it('reconnects with since=<revision> and catches up from deltas, not a snapshot', async () => {
    const { server, bl, channel } = await setup();
    server.commit({ upsert: entry(1) });
    channel.start();
    await waitFor(() => server.acks().includes(1), { what: 'first sync' });
    server.closeAll(1001, 'restart');
    await once(channel, 'disconnected');
    server.commit({ upsert: entry(2) }, { upsert: entry(3) });
    await waitFor(() => server.acks().includes(3), { what: 'catch-up ack' });
    const hellos = server.framesOf('hello');
    expect(hellos.map((h) => h.since)).toEqual([0, 1]);
    expect(server.received.filter((f) => 'type' in f && f.type === 'resync')).toHaveLength(0);
    expect(bl.checksum()).toBe(server.checksum());
    expect(channel.reconnects).toBe(1);
  });

  it('a snapshot checksum mismatch keeps the old set and sends resync; the next snapshot applies', async () => {
    const { server, bl, channel } = await setup();
    server.commit({ upsert: entry(1) }, { upsert: entry(2) }, { upsert: entry(3) });
    server.hooks.badChecksumOnce = true;
    const resync = once(channel, 'resync');
    channel.start();
    const [r] = await resync;
    expect(r.reason).toMatch(/checksum mismatch/);
    await waitFor(() => server.framesOf('resync').length === 1, { what: 'resync frame' });
    // The fake answers resync with a fresh (good) snapshot.
    await waitFor(() => server.acks().includes(3), { what: 'ack after resync' });
    expect(bl.checksum()).toBe(server.checksum());
    expect(bl.revision).toBe(3);
  });

  it('a revision gap makes the sidecar send resync instead of applying the delta', async () => {
    const { server, bl, channel } = await setup();
    server.commit({ upsert: entry(1) });
    channel.start();
    await waitFor(() => server.acks().includes(1), { what: 'sync' });
    const conn = [...server.conns][0]!;
    const resync = once(channel, 'resync');
    // Revision 2 never arrives: a delta from 2 to 3.
    server.send(conn, {
      type: 'delta',
      from_revision: 2,
      revision: 3,
      changes: [{ op: 'upsert', revision: 3, entry: entry(9) }],
    });
    const [r] = await resync;
    expect(r.reason).toMatch(/revision gap: local revision 1, delta from 2 to 3/);
    await waitFor(() => server.framesOf('resync').length === 1, { what: 'resync frame' });
    expect(server.framesOf('resync')[0]!.reason).toMatch(/revision gap/);
    expect(bl.lookup('qq', 'u9')).toBeUndefined();
    // The fake answers with a snapshot of its real set (revision 1).
    await waitFor(() => server.acks().filter((a) => a === 1).length === 2, { what: 'resnapshot' });
    expect(bl.checksum()).toBe(server.checksum());
  });

  it('a cache synced under another instance token starts over with since=0', async () => {
    const server = await FakeControlServer.start(); // accepts any adi_ token
    cleanups.push(() => server.close());
    const { bl, channel } = await setup({ server });
    server.commit({ upsert: entry(1) }, { upsert: entry(2) });
    channel.start();
    await waitFor(() => server.acks().includes(2), { what: 'sync' });
    await channel.close();
    // Same cache, another token (e.g. the instance was re-provisioned).
    const other = new ControlChannel({
      serverUrl: server.url,
      token: `${INSTANCE_TOKEN}x`,
      version: 'test',
      blacklist: bl,
      log: testLogger(),
    });
    cleanups.push(() => other.close());
    other.start();
    await waitFor(() => server.framesOf('hello').length === 2, { what: 'second hello' });
    expect(server.framesOf('hello')[1]).toMatchObject({ since: 0, entries: 2 });
    await waitFor(() => server.acks().filter((a) => a === 2).length === 2, { what: 'resnapshot' });
    // Reconnecting with the same token now continues from the revision.
    server.closeAll();
    await waitFor(() => server.framesOf('hello').length === 3, { what: 'third hello' });
    expect(server.framesOf('hello')[2]!.since).toBe(2);
  });

  it('a foreign cache is replaced even when the server has nothing after since=0', async () => {
    const server = await FakeControlServer.start();
    cleanups.push(() => server.close());
    const { bl, channel } = await setup({ server });
    server.commit({ upsert: entry(1) });
    channel.start();
    await waitFor(() => server.acks().includes(1), { what: 'sync' });
    await channel.close();
    // Another tenant whose blacklist is empty at revision 0: hello since=0 gets only welcome.
    server.seed([], 0);
    const other = new ControlChannel({
      serverUrl: server.url,
      token: `${INSTANCE_TOKEN}y`,
      version: 'test',
      blacklist: bl,
      log: testLogger(),
    });
    cleanups.push(() => other.close());
    server.hooks.onHello = (conn) => {
      server.send(conn, { type: 'welcome', instance_id: 'i', tenant_id: 't', revision: 0 });
      return true;
    };
    other.start();
    await waitFor(() => server.framesOf('resync').length === 1, { what: 'resync' });
    await waitFor(() => bl.size === 0 && bl.revision === 0, { what: 'empty snapshot applied' });
  });

  it('deltas arriving while a snapshot streams are applied after it', async () => {
    const { server, bl, channel } = await setup();
    server.commit({ upsert: entry(1) }, { upsert: entry(2) }, { upsert: entry(3) });
    server.hooks.onHello = (conn) => {
      server.send(conn, { type: 'snapshot_begin', revision: 3, total: 3 });
      server.send(conn, { type: 'snapshot_chunk', entries: [entry(1), entry(2)] });
      // A change commits mid-stream.
      server.send(conn, {
        type: 'delta',
        from_revision: 3,
        revision: 4,
        changes: [{ op: 'upsert', revision: 4, entry: entry(4) }],
      });
      server.send(conn, { type: 'snapshot_chunk', entries: [entry(3)] });
      server.send(conn, {
        type: 'snapshot_end',
        revision: 3,
        checksum: server.checksum(),
      });
      return true;
    };
    channel.start();
    await waitFor(() => server.acks().includes(4), { what: 'ack 4' });
    expect(server.acks()).toEqual([3, 4]);
    expect(bl.revision).toBe(4);
    expect(bl.lookup('qq', 'u4')).toBeDefined();
  });

  it('answers ping with pong', async () => {
    const { server, channel } = await setup();
    channel.start();
    await waitFor(() => server.acks().length > 0 && server.conns.size === 1);
    server.send([...server.conns][0]!, { type: 'ping', ts: 12345 });
    await waitFor(() => server.framesOf('pong').length === 1, { what: 'pong' });
    expect(server.framesOf('pong')[0]).toEqual({ v: 1, type: 'pong', ts: 12345 });
  });

  it.each([
    ['invalid JSON', '{nope', /not valid JSON/],
    [
      'a frame type that is not a name',
      JSON.stringify({ v: 1, type: 'Tele port!' }),
      /unknown frame type "Tele port!"/,
    ],
    [
      'another protocol version',
      JSON.stringify({ v: 2, type: 'ping', ts: 1 }),
      /unsupported protocol version 2/,
    ],
    [
      'a frame missing a field',
      JSON.stringify({ v: 1, type: 'delta', from_revision: 0 }),
      /bad delta frame/,
    ],
    [
      'a chunk without snapshot_begin',
      JSON.stringify({ v: 1, type: 'snapshot_chunk', entries: [] }),
      /without snapshot_begin/,
    ],
  ])('closes the socket with 1008 on %s and reconnects', async (_name, raw, message) => {
    const { server, channel, bl } = await setup();
    server.commit({ upsert: entry(1) });
    channel.start();
    await waitFor(() => server.acks().includes(1), { what: 'sync' });
    const protocolError = once(channel, 'protocol_error');
    const closed = once(channel, 'disconnected');
    server.sendRaw(raw);
    expect((await protocolError)[0].message).toMatch(message);
    const [d] = await closed;
    expect(d.code).toBe(1008);
    await waitFor(() => server.closes.some((c) => c.code === 1008), { what: 'server saw 1008' });
    // Recovers: a new connection, hello since 1, delta, enforcing throughout.
    await waitFor(() => server.framesOf('hello').length === 2 && channel.connected, {
      what: 'reconnect',
    });
    expect(server.framesOf('hello')[1]!.since).toBe(1);
    expect(bl.lookup('qq', 'u1')).toBeDefined();
  });

  it('skips a well-formed frame of a type it does not know (a newer server) and stays in sync', async () => {
    const { server, channel, bl } = await setup();
    server.commit({ upsert: entry(1) });
    channel.start();
    await waitFor(() => server.acks().includes(1), { what: 'sync' });
    const errors: unknown[] = [];
    channel.on('protocol_error', (e) => errors.push(e));
    server.sendRaw(JSON.stringify({ v: 1, type: 'delivery', id: 'dlv_1', text: 'hi' }));
    server.sendRaw(JSON.stringify({ v: 1, type: 'delivery', id: 'dlv_2', text: 'again' }));
    // The same connection still applies what comes next.
    server.commit({ upsert: entry(2) });
    await waitFor(() => server.acks().includes(2), { what: 'ack 2 on the same socket' });
    expect(bl.lookup('qq', 'u2')).toBeDefined();
    expect(channel.ignoredFrames).toBe(2);
    expect(errors).toEqual([]);
    expect(server.framesOf('hello')).toHaveLength(1);
    expect(server.closes).toEqual([]);
  });

  it('retries slowly after HTTP 401 at the upgrade', async () => {
    const { channel } = await setup({ token: 'adi_wrong_token_000000000000' });
    const disconnected = once(channel, 'disconnected');
    channel.start();
    const [d] = await disconnected;
    expect(d.retryInMs).toBeGreaterThanOrEqual(320);
    expect(d.retryInMs).toBeLessThanOrEqual(480);
    expect(channel.lastError).toMatch(/HTTP 401/);
    expect(channel.connected).toBe(false);
  });

  it('retries slowly after close 4001 unauthorized', async () => {
    const server = await FakeControlServer.start({ token: INSTANCE_TOKEN, unauthorized: 'close' });
    cleanups.push(() => server.close());
    const { channel } = await setup({ server, token: 'adi_wrong_token_000000000000' });
    const disconnected = once(channel, 'disconnected');
    channel.start();
    const [d] = await disconnected;
    expect(d.code).toBe(4001);
    expect(d.retryInMs).toBeGreaterThanOrEqual(320);
  });

  it('backs off exponentially with jitter while the server is down, then connects', async () => {
    const server = await FakeControlServer.start({ token: INSTANCE_TOKEN });
    const url = server.url;
    await server.close();
    const delays: number[] = [];
    const { channel } = await setup({
      server: { url } as FakeControlServer,
      random: () => 1,
      reconnectMinMs: 10,
      reconnectMaxMs: 80,
    });
    channel.on('disconnected', (d) => {
      if (d.retryInMs !== null) delays.push(d.retryInMs);
    });
    channel.start();
    await waitFor(() => delays.length >= 5, { what: 'five retries' });
    // random() = 1 → the full exponential delay, capped.
    expect(delays.slice(0, 5)).toEqual([10, 20, 40, 80, 80]);
    expect(channel.state).not.toBe('open');
  });

  it('drops a connection that stops answering pings and reconnects', async () => {
    const { server, channel } = await setup({ heartbeatMs: 100 });
    channel.start();
    await waitFor(() => channel.connected && server.conns.size === 1);
    // The server stops reading (so it never answers the WebSocket pings).
    [...server.conns][0]!.ws.pause();
    const [d] = await once(channel, 'disconnected');
    expect(d.code).toBe(1006);
    await waitFor(() => server.framesOf('hello').length === 2, { what: 'reconnect' });
  });

  it('close() stops reconnecting', async () => {
    const { server, channel } = await setup();
    channel.start();
    await waitFor(() => channel.connected);
    await channel.close();
    expect(channel.state).toBe('closed');
    await new Promise((r) => setTimeout(r, 150));
    expect(server.framesOf('hello')).toHaveLength(1);
    expect(server.conns.size).toBe(0);
  });
});

/**
 * The sidecar as a whole against FAKE servers (the real server's /v1/sidecar/connect is tested
 * end-to-end elsewhere): restarts on the same data directory, the server going away and coming
 * back, and a snapshot cut off mid-stream.
 */
import { SidecarEvent } from '@astrdesk/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, type RunningSidecar, startSidecar } from './index.js';
import {
  entry,
  FakeControlServer,
  FakeIngestServer,
  INSTANCE_TOKEN,
  interceptBody,
  post,
  tempDir,
  testConfig,
  waitFor,
} from './test-utils/index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One fake "server" URL: ingest (HTTP) and control channel (WS) on the same port. */
async function fakeServer(opts: { chunkSize?: number } = {}) {
  const ingest = await FakeIngestServer.start();
  ingest.token = INSTANCE_TOKEN;
  const control = await FakeControlServer.start({
    token: INSTANCE_TOKEN,
    attach: ingest.server,
    ...opts,
  });
  cleanups.push(() => ingest.close());
  cleanups.push(() => control.close());
  return { ingest, control, url: control.url };
}

function dataDir() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}

async function start(url: string, dir: string, opts: Parameters<typeof startSidecar>[1] = {}) {
  const sc = await startSidecar(testConfig(url, dir), opts);
  cleanups.push(() => sc.close());
  return sc;
}

const intercept = (sc: RunningSidecar, n: number, over: Record<string, unknown> = {}) =>
  post(`${sc.url}/astrbot-api/v1/messages/intercept`, interceptBody(n, over));

describe('startSidecar', () => {
  it('serves from the SQLite cache at once on restart, with the server gone', async () => {
    const { control, ingest, url } = await fakeServer();
    control.commit({ upsert: entry(1) }, { upsert: entry(2, { reason: 'fraud' }) });
    const dir = dataDir();
    const first = await start(url, dir);
    await waitFor(() => first.cache.revision === 2, { what: 'first sync' });
    await first.close();
    await control.close();
    await ingest.close();

    const again = await start(url, dir);
    // No waiting: the cache was loaded before the sidecar listened.
    expect(again.cache.loaded).toBe(true);
    expect(again.cache.revision).toBe(2);
    const r = await intercept(again, 2);
    expect(r.body).toEqual({ action: 'block', reason: 'fraud', entry_id: 'bl_0002' });
    expect((await intercept(again, 3)).body.action).toBe('pass');
    const h = again.health();
    expect(h).toMatchObject({
      cache_loaded: true,
      entries: 2,
      revision: 2,
      server_connected: false,
    });
    expect(h.outbox_depth).toBe(2);
  });

  it('server down: the outbox grows and survives a restart; back: drains in order, no duplicates', async () => {
    const { control, ingest, url } = await fakeServer();
    control.commit({ upsert: entry(7) });
    const dir = dataDir();
    let sc = await start(url, dir);
    await waitFor(() => sc.cache.revision === 1 && sc.channel.connected, { what: 'sync' });

    // The server goes away (stop listening first, so the sidecar cannot reconnect).
    const down = ingest.stop();
    control.closeAll(1001, 'server shutting down');
    await down;
    await waitFor(() => !sc.channel.connected, { what: 'disconnect' });
    const sessions = ['a', 'b', 'c'];
    for (let i = 0; i < 30; i++) {
      const r = await intercept(sc, i % 10, { session: sessions[i % 3], text: `t${i}` });
      expect(r.status).toBe(200);
    }
    expect(sc.outbox.depth).toBe(30);
    const before = sc.outbox.rows().map((r) => r.id);

    // Restart while the server is still down.
    await sc.close();
    sc = await start(url, dir);
    expect(sc.outbox.depth).toBe(30);
    expect(sc.outbox.rows().map((r) => r.id)).toEqual(before);
    for (let i = 30; i < 40; i++)
      await intercept(sc, i % 10, { session: sessions[i % 3], text: `t${i}` });
    const all = sc.outbox.rows().map((r) => r.id);
    expect(all).toHaveLength(40);

    // The server is back.
    await ingest.listen();
    await waitFor(() => sc.outbox.depth === 0, { what: 'drained', timeoutMs: 10_000 });
    expect(ingest.accepted.map((e) => e.id)).toEqual(all);
    expect([...ingest.deliveries.values()].every((n) => n === 1)).toBe(true);
    // u7 was blacklisted: its messages were reported as blocked, the rest as inbound.
    for (const e of ingest.accepted) {
      expect(SidecarEvent.safeParse(e).success).toBe(true);
      const user = (e.data as { platform_user_id: string }).platform_user_id;
      expect(e.type).toBe(user === 'u7' ? 'message.blocked' : 'message.inbound');
    }
    const texts = ingest.accepted.map((e) => (e.data as { text: string }).text);
    expect(texts).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`));
    await waitFor(() => sc.channel.connected, { what: 'reconnected' });
  });

  it('a snapshot cut off after 2 of 4 chunks leaves the previous set and revision; the next connection converges', async () => {
    const { control, url } = await fakeServer({ chunkSize: 2 });
    const setA = [entry(1), entry(2), entry(3)];
    control.commit(...setA.map((e) => ({ upsert: e })));
    const dir = dataDir();
    let sc = await start(url, dir);
    await waitFor(() => sc.cache.revision === 3, { what: 'sync A' });
    const checksumA = sc.cache.checksum();
    await sc.close();

    // The server's set changes beyond its change log: the next hello gets a snapshot.
    const setB = Array.from({ length: 8 }, (_, i) => entry(100 + i));
    control.seed(setB, 20);
    control.hooks.stallAfterChunks = 2;
    sc = await start(url, dir);
    await waitFor(
      () => sc.cache.db.prepare('SELECT count(*) FROM blacklist_staging').pluck().get() === 4,
      { what: '2 chunks staged' },
    );
    // Mid-stream, the live set is still A.
    expect(sc.cache.revision).toBe(3);
    expect((await intercept(sc, 1)).body.action).toBe('block');
    expect((await intercept(sc, 100)).body.action).toBe('pass');
    await sc.close();

    // Reopen: the previous consistent cache + revision.
    delete control.hooks.stallAfterChunks;
    sc = await start(url, dir, { connect: false });
    expect(sc.cache.revision).toBe(3);
    expect(sc.cache.checksum()).toBe(checksumA);
    // Reconnect converges to the server's set.
    sc.channel.start();
    await waitFor(() => sc.cache.revision === 20, { what: 'converged' });
    expect(sc.cache.checksum()).toBe(control.checksum());
    expect(sc.cache.size).toBe(8);
    await waitFor(() => control.acks().includes(20), { what: 'ack 20' });
    expect((await intercept(sc, 1)).body.action).toBe('pass');
    expect((await intercept(sc, 104)).body.action).toBe('block');
  });

  it('refuses to start on a data directory another sidecar is using', async () => {
    const dir = dataDir();
    await start('http://127.0.0.1:9', dir, { connect: false });
    await expect(
      startSidecar(testConfig('http://127.0.0.1:9', dir), { connect: false, lockTimeoutMs: 50 }),
    ).rejects.toBeInstanceOf(DataDirInUseError);
  });

  it('close() is idempotent and leaves the files reopenable', async () => {
    const dir = dataDir();
    const sc = await start('http://127.0.0.1:9', dir);
    await Promise.all([sc.close(), sc.close()]);
    const again = await start('http://127.0.0.1:9', dir, { connect: false });
    expect(again.cache.loaded).toBe(true);
  });
});

/**
 * The real sidecar against the REAL AstrDesk server (`@astrdesk/server`, built), on loopback:
 * blacklist changes made through the server's REST API reach the sidecar's intercept; expiry
 * is enforced by the sidecar's own clock; a restart with the server gone enforces from SQLite;
 * a revision gap (a delta lost in transit) makes the sidecar resync and converge.
 *
 * Database: a temp SQLite file, or a fresh PostgreSQL schema with ASTRDESK_TEST_DB=postgres.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { dataFiles } from '../config.js';
import {
  api,
  apiOk,
  Cleanups,
  checksumOf,
  createInstance,
  e2eDatabase,
  instanceSync,
  LossyRelay,
  poll,
  serverEntriesViaApi,
  setupTenant,
  startE2ESidecar,
  startRealServer,
  waitRevision,
} from './harness.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** A real server on a fresh database, a tenant and one instance. */
async function world() {
  const db = e2eDatabase();
  cleanups.add(() => db.drop());
  const server = await startRealServer(db);
  cleanups.add(() => server.close());
  const tenant = await setupTenant(server);
  const instance = await createInstance(server.url, tenant.owner);
  return { db, server, tenant, instance, base: server.url, owner: tenant.owner };
}

let seq = 0;
const msgId = (tag: string) => `m-${tag}-${++seq}`;

describe('e2e: blacklist changes on the real server reach the intercept', {
  timeout: 60_000,
}, () => {
  it('add on the server → block (reason, entry_id); reason changed → new reason; remove → pass', async () => {
    const { base, owner, instance } = await world();
    const h = await startE2ESidecar(cleanups, base, instance.token);
    await poll(() => h.events.some((e) => e.type === 'welcome'), 'welcome');
    expect(h.sc.channel.instanceId).toBe(instance.id);

    expect((await h.intercept({ user: '10001', messageId: msgId('a') })).body).toEqual({
      action: 'pass',
    });

    const added = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: '10001',
      reason: 'spam',
    });
    await waitRevision(h, 1);
    const blocked = await h.intercept({ user: '10001', messageId: msgId('a') });
    expect(blocked.status).toBe(200);
    expect(blocked.body).toEqual({ action: 'block', reason: 'spam', entry_id: added.id });
    // Same user id on another platform, and another user: not blocked.
    expect(
      (await h.intercept({ user: '10001', platform: 'telegram', messageId: msgId('a') })).body,
    ).toEqual({ action: 'pass' });
    expect((await h.intercept({ user: '10002', messageId: msgId('a') })).body.action).toBe('pass');

    await apiOk(200, base, 'PATCH', `/v1/blacklist/${added.id}`, owner, { reason: 'fraud' });
    await waitRevision(h, 2);
    expect((await h.intercept({ user: '10001', messageId: msgId('a') })).body).toEqual({
      action: 'block',
      reason: 'fraud',
      entry_id: added.id,
    });

    await apiOk(200, base, 'DELETE', `/v1/blacklist/${added.id}`, owner);
    await waitRevision(h, 3);
    expect((await h.intercept({ user: '10001', messageId: msgId('a') })).body).toEqual({
      action: 'pass',
    });

    // Each change arrived as a delta (no snapshot after the first sync), acknowledged to the server.
    const synced = h.events.filter((e) => e.type === 'synced').map((e) => e.data);
    expect(synced.at(-3)).toMatchObject({ kind: 'delta', revision: 1 });
    expect(synced.at(-1)).toMatchObject({ kind: 'delta', revision: 3 });
    expect(h.events.some((e) => e.type === 'resync')).toBe(false);
    const sync = await poll(async () => {
      const s = await instanceSync(base, owner, instance.id);
      return s.applied_revision === 3 ? s : undefined;
    }, 'the server to record ack 3');
    expect(sync).toMatchObject({ revision: 3, applied_revision: 3, online: true, lag: 0 });
    expect(h.sc.health()).toMatchObject({
      status: 'ok',
      server_connected: true,
      revision: 3,
      server_revision: 3,
      lag: 0,
      entries: 0,
    });
  });

  it('an entry with expires_at stops blocking at that time on the sidecar clock, with no push', async () => {
    const { base, owner, instance } = await world();
    // The sidecar's clock is injected: null follows the real clock, a number pins it.
    let pinned: number | null = null;
    const h = await startE2ESidecar(cleanups, base, instance.token, {
      start: { now: () => pinned ?? Date.now() },
    });
    await poll(() => h.events.some((e) => e.type === 'welcome'), 'welcome');

    // The server requires a future expiry at creation: a few seconds ahead of its clock.
    const expiresAt = new Date(Date.now() + 5_000).toISOString();
    const entry = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'temp-ban',
      reason: 'cool down',
      expires_at: expiresAt,
    });
    expect(entry.expires_at).toBe(expiresAt);
    const permanent = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'perma-ban',
    });
    await waitRevision(h, 2);
    const expiresMs = Date.parse(expiresAt);
    const cached = [...h.sc.cache.entries()].find((e) => e.platform_user_id === 'temp-ban');
    expect(cached).toMatchObject({ id: entry.id, expires_at: expiresMs });

    const syncedBefore = h.events.filter((e) => e.type === 'synced').length;
    pinned = expiresMs - 1;
    expect((await h.intercept({ user: 'temp-ban', messageId: msgId('x') })).body).toEqual({
      action: 'block',
      reason: 'cool down',
      entry_id: entry.id,
    });
    pinned = expiresMs; // expiry is inclusive: at expires_at the entry no longer blocks
    expect((await h.intercept({ user: 'temp-ban', messageId: msgId('x') })).body).toEqual({
      action: 'pass',
    });
    pinned = expiresMs + 86_400_000;
    expect((await h.intercept({ user: 'temp-ban', messageId: msgId('x') })).body).toEqual({
      action: 'pass',
    });
    // Permanent entries are unaffected by the clock.
    expect((await h.intercept({ user: 'perma-ban', messageId: msgId('x') })).body).toEqual({
      action: 'block',
      entry_id: permanent.id,
    });

    // Nothing came from the server: same revision, no frame applied, the entry is still held
    // (expired entries stay in the set; the server still lists it).
    expect(h.events.filter((e) => e.type === 'synced').length).toBe(syncedBefore);
    expect(h.sc.cache.revision).toBe(2);
    expect(h.sc.cache.size).toBe(2);
    const onServer = await serverEntriesViaApi(base, owner);
    expect(h.sc.cache.checksum()).toBe(checksumOf(onServer));
  });

  it('a sidecar restarted while the server is down keeps blocking from SQLite', async () => {
    const { base, owner, instance, server } = await world();
    const blocked = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'troll',
      reason: 'abuse',
    });
    const batch = await apiOk(200, base, 'POST', '/v1/blacklist/batch', owner, {
      entries: Array.from({ length: 50 }, (_, i) => ({
        platform: 'telegram',
        platform_user_id: `bot-${i}`,
      })),
    });
    expect(batch.created).toBe(50);
    const h = await startE2ESidecar(cleanups, base, instance.token);
    await waitRevision(h, 51);
    const dir = h.dir;
    const checksum = h.sc.cache.checksum();
    await h.close();

    await server.close();
    // Nothing listens on the server's address any more.
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();

    const again = await startE2ESidecar(cleanups, base, instance.token, { dir });
    // No waiting: the cache is loaded from SQLite before the port opens.
    expect(again.sc.cache.revision).toBe(51);
    expect(again.sc.cache.size).toBe(51);
    expect(again.sc.cache.checksum()).toBe(checksum);
    expect((await again.intercept({ user: 'troll', messageId: msgId('d') })).body).toEqual({
      action: 'block',
      reason: 'abuse',
      entry_id: blocked.id,
    });
    expect(
      (await again.intercept({ user: 'bot-7', platform: 'telegram', messageId: msgId('d') })).body
        .action,
    ).toBe('block');
    expect((await again.intercept({ user: 'friend', messageId: msgId('d') })).body).toEqual({
      action: 'pass',
    });
    // It has tried the server and failed, and says so, but stays ready.
    await poll(() => again.sc.channel.lastError !== null, 'a failed connection attempt');
    expect(again.sc.channel.connected).toBe(false);
    const ready = await fetch(`${again.sc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(again.sc.health()).toMatchObject({
      status: 'degraded',
      cache_loaded: true,
      server_connected: false,
      entries: 51,
      revision: 51,
      outbox_depth: 3,
    });
  });
});

describe('e2e: revision gaps and tampered revisions', { timeout: 60_000 }, () => {
  it('a delta lost in transit leaves a gap: the sidecar asks for a resync and converges', async () => {
    const { base, owner, instance } = await world();
    for (const u of ['a', 'b'])
      await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
        platform: 'qq',
        platform_user_id: u,
      });
    const relay = await LossyRelay.start(base);
    cleanups.add(() => relay.close());
    const h = await startE2ESidecar(cleanups, relay.url, instance.token);
    await waitRevision(h, 2);

    // The next delta is lost between the server and the sidecar.
    let lose = true;
    relay.drop = (f) => {
      if (lose && f.type === 'delta') {
        lose = false;
        return true;
      }
      return false;
    };
    const lost = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'lost-in-transit',
      reason: 'spam',
    });
    await poll(() => relay.dropped.length === 1, 'the delta to be dropped');
    expect(relay.dropped[0]).toMatchObject({ type: 'delta', from_revision: 2, revision: 3 });
    // The sidecar never saw revision 3.
    expect(h.sc.cache.revision).toBe(2);
    expect((await h.intercept({ user: 'lost-in-transit', messageId: msgId('g') })).body).toEqual({
      action: 'pass',
    });

    // The next change arrives as delta 3 → 4: it does not continue from 2.
    const next = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'next',
    });
    const resync = await poll(
      () => h.events.find((e) => e.type === 'resync'),
      'the sidecar to ask for a resync',
    );
    expect(resync.data.reason).toMatch(/revision gap: local revision 2, delta from 3 to 4/);
    await poll(
      () =>
        h.events.some(
          (e) => e.type === 'synced' && e.data.kind === 'snapshot' && e.data.revision === 4,
        ),
      'the snapshot answering the resync',
    );
    // Converged: the server's set, both changes enforced, acknowledged.
    const onServer = await serverEntriesViaApi(base, owner);
    expect(onServer).toHaveLength(4);
    expect(h.sc.cache.checksum()).toBe(checksumOf(onServer));
    expect(h.sc.cache.revision).toBe(4);
    expect((await h.intercept({ user: 'lost-in-transit', messageId: msgId('g') })).body).toEqual({
      action: 'block',
      reason: 'spam',
      entry_id: lost.id,
    });
    expect((await h.intercept({ user: 'next', messageId: msgId('g') })).body).toEqual({
      action: 'block',
      entry_id: next.id,
    });
    expect(h.events.filter((e) => e.type === 'resync')).toHaveLength(1);
    await poll(
      async () => (await instanceSync(base, owner, instance.id)).applied_revision === 4,
      'the server to record ack 4',
    );
    // Later changes flow as deltas again.
    await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'later',
    });
    await waitRevision(h, 5);
    expect(h.events.at(-1)).toMatchObject({ type: 'synced', data: { kind: 'delta', revision: 5 } });
  });

  it('a revision edited in blacklist.db while stopped: older replays deltas, newer gets a snapshot', async () => {
    const { base, owner, instance } = await world();
    for (const u of ['a', 'b', 'c'])
      await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
        platform: 'qq',
        platform_user_id: u,
      });
    let h = await startE2ESidecar(cleanups, base, instance.token);
    await waitRevision(h, 3);
    const dir = h.dir;
    await h.close();

    const setRevision = (rev: number) => {
      const raw = new Database(dataFiles({ SIDECAR_DATA_DIR: dir }).blacklist);
      try {
        raw.prepare("UPDATE meta SET value = ? WHERE key = 'revision'").run(String(rev));
        // Also drop an entry, as if that older revision were real: the replay must restore it.
        if (rev < 3) raw.prepare("DELETE FROM blacklist WHERE platform_user_id = 'c'").run();
      } finally {
        raw.close();
      }
    };

    // Older: the server answers the hello with the changes after it.
    setRevision(1);
    h = await startE2ESidecar(cleanups, base, instance.token, { dir });
    expect(h.sc.cache.revision).toBe(1);
    expect(h.sc.cache.size).toBe(2);
    await waitRevision(h, 3);
    const onServer = await serverEntriesViaApi(base, owner);
    expect(h.sc.cache.checksum()).toBe(checksumOf(onServer));
    expect(h.events.filter((e) => e.type === 'synced').map((e) => e.data.kind)).toEqual(['delta']);
    await h.close();

    // Newer than the server has: there is no delta for it, the server streams a snapshot.
    setRevision(1000);
    h = await startE2ESidecar(cleanups, base, instance.token, { dir });
    expect(h.sc.cache.revision).toBe(1000);
    await waitRevision(h, 3);
    expect(h.events.filter((e) => e.type === 'synced').map((e) => e.data)).toEqual([
      { kind: 'snapshot', revision: 3, entries: 3 },
    ]);
    expect(h.sc.cache.checksum()).toBe(checksumOf(onServer));
    // And it follows live changes from there.
    const d = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'd',
    });
    await waitRevision(h, 4);
    expect((await h.intercept({ user: 'd', messageId: msgId('t') })).body).toEqual({
      action: 'block',
      entry_id: d.id,
    });
    expect(await api(base, 'GET', '/healthz')).toMatchObject({ status: 200 });
  });
});

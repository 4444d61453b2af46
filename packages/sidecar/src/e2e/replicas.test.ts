/**
 * Two REAL server processes on one PostgreSQL schema + Redis (server A in this process, server
 * B the built bin of @astrdesk/server as a child process), one real sidecar connected to each.
 * A change written through either server blocks on both sidecars.
 * Only with DATABASE_URL (postgres://) and REDIS_URL set, as CI does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  apiOk,
  Cleanups,
  checksumOf,
  createInstance,
  e2eDatabase,
  MASTER_KEY,
  poll,
  REDIS_URL,
  serverEntriesViaApi,
  setupTenant,
  startE2ESidecar,
  startRealServer,
  waitRevision,
} from './harness.js';

// Runs whenever PostgreSQL and Redis are configured (CI sets both), whatever ASTRDESK_TEST_DB
// says for the other e2e tests: replicas only exist on PostgreSQL.
const enabled =
  Boolean(process.env.DATABASE_URL?.startsWith('postgres')) && Boolean(process.env.REDIS_URL);
const serverBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@astrdesk/server')),
  'cli.js',
);

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** The server's built bin as a second process on the same database; resolves with its URL. */
async function startServerProcess(env: Record<string, string>): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [serverBin], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  cleanups.add(async () => {
    if (exited) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return poll(() => {
    if (exited) throw new Error(`server B exited: ${out.slice(-2000)}`);
    return /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1];
  }, 'server B to listen');
}

describe.skipIf(!enabled)('e2e: two server replicas (PostgreSQL + Redis)', () => {
  it('a change written through server A (and one through B) blocks on the sidecars of both', async () => {
    expect(fs.existsSync(serverBin)).toBe(true);
    const db = e2eDatabase('postgres');
    cleanups.add(() => db.drop());
    const a = await startRealServer(db);
    cleanups.add(() => a.close());
    const bUrl = await startServerProcess({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: db.dir,
      LOG_LEVEL: 'info',
      ASTRDESK_MASTER_KEY: MASTER_KEY,
      DATABASE_URL: db.databaseUrl,
      REDIS_URL: REDIS_URL!,
      SHUTDOWN_TIMEOUT_MS: '2000',
    });
    expect(bUrl).not.toBe(a.url);

    const { owner } = await setupTenant(a);
    const podA = await createInstance(a.url, owner, 'pod-a');
    // The second pod is registered through server B: same database.
    const podB = await createInstance(bUrl, owner, 'pod-b');
    const onA = await startE2ESidecar(cleanups, a.url, podA.token);
    const onB = await startE2ESidecar(cleanups, bUrl, podB.token);
    await poll(
      () =>
        onA.events.some((e) => e.type === 'welcome') &&
        onB.events.some((e) => e.type === 'welcome'),
      'both sidecars to be welcomed',
    );
    expect(onA.sc.channel.instanceId).toBe(podA.id);
    expect(onB.sc.channel.instanceId).toBe(podB.id);

    // Written through A: pushed to the sidecar on A and, over Redis, to the one on B.
    const entry = await apiOk(201, a.url, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'cross-replica',
      reason: 'spam',
    });
    await waitRevision(onA, 1);
    await waitRevision(onB, 1);
    for (const h of [onA, onB])
      expect(
        (await h.intercept({ user: 'cross-replica', messageId: `r-${h.sc.port}-1` })).body,
      ).toEqual({ action: 'block', reason: 'spam', entry_id: entry.id });
    // Both arrived as deltas (live pushes), not as a snapshot on reconnect.
    for (const h of [onA, onB])
      expect(h.events.filter((e) => e.type === 'synced').map((e) => e.data.kind)).toEqual([
        'delta',
      ]);

    // And the other way: removed through B.
    await apiOk(200, bUrl, 'DELETE', `/v1/blacklist/${entry.id}`, owner);
    await waitRevision(onA, 2);
    await waitRevision(onB, 2);
    for (const h of [onA, onB])
      expect(
        (await h.intercept({ user: 'cross-replica', messageId: `r-${h.sc.port}-2` })).body,
      ).toEqual({ action: 'pass' });

    const onServer = await serverEntriesViaApi(bUrl, owner);
    expect(onA.sc.cache.checksum()).toBe(checksumOf(onServer));
    expect(onB.sc.cache.checksum()).toBe(checksumOf(onServer));
  }, 60_000);
});

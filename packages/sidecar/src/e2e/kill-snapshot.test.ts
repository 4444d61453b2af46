/**
 * kill -9 of the real sidecar in the middle of a snapshot streamed by the REAL server. The
 * sidecar runs as a child process (the built dist/, see child-sidecar.mjs), is SIGKILLed right
 * after the first snapshot chunk of a 20,003-entry blacklist is staged, and is then restarted
 * on the same data directory: it enforces the previous complete set at once and converges to
 * the server's set (checksum over the server's database). Skipped without dist/ (`npx tsup`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { dataFiles } from '../config.js';
import { API_TOKEN, tempDir } from '../test-utils/index.js';
import {
  apiOk,
  Cleanups,
  checksumOf,
  createInstance,
  e2eDatabase,
  poll,
  serverEntriesViaDb,
  setupTenant,
  startE2ESidecar,
  startRealServer,
  waitRevision,
} from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const built = fs.existsSync(path.join(here, '..', '..', 'dist', 'index.js'));
const childScript = path.join(here, 'child-sidecar.mjs');

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

/** The built sidecar in a child process, with its stdout report lines. */
class ChildSidecar {
  readonly lines: string[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private constructor(readonly child: ChildProcess) {}

  static async start(env: Record<string, string>): Promise<ChildSidecar> {
    const child = spawn(process.execPath, [childScript], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const c = new ChildSidecar(child);
    cleanups.add(() => c.kill9());
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i = buf.indexOf('\n');
      while (i >= 0) {
        c.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    });
    child.once('exit', (code, signal) => {
      c.exit = { code, signal };
    });
    await c.waitLine('READY', 'the child sidecar to listen');
    return c;
  }

  /** The JSON after `tag` on the first report line with that tag, once it is there. */
  waitLine(tag: string, what: string, match: (v: any) => boolean = () => true): Promise<any> {
    return poll(
      () => {
        if (this.exit) throw new Error(`child exited (${JSON.stringify(this.exit)})`);
        for (const l of this.lines) {
          if (!l.startsWith(`${tag} `)) continue;
          const rest = l.slice(tag.length + 1);
          const v = rest.startsWith('{') ? JSON.parse(rest) : rest;
          if (match(v)) return v;
        }
        return undefined;
      },
      what,
      { tries: 1200, intervalMs: 25 },
    );
  }

  async kill9(): Promise<void> {
    if (this.exit || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }

  async term(): Promise<void> {
    if (this.exit) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}

describe.skipIf(!built)('e2e: kill -9 of the sidecar mid-snapshot (child process)', () => {
  it('leaves the previous complete set and revision; after a restart it converges to the server', async () => {
    const db = e2eDatabase();
    cleanups.add(() => db.drop());
    const server = await startRealServer(db);
    cleanups.add(() => server.close());
    const { owner, tenantId } = await setupTenant(server);
    const base = server.url;
    const instance = await createInstance(base, owner);

    // Set A: three entries, synced by a first run of the child.
    const a1 = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'old-1',
      reason: 'spam',
    });
    for (const u of ['old-2', 'old-3'])
      await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
        platform: 'qq',
        platform_user_id: u,
      });
    const { dir, cleanup } = tempDir('astrdesk-e2e-kill-');
    cleanups.add(cleanup);
    const env = (token: string, extra: Record<string, string> = {}) => ({
      ASTRDESK_SERVER_URL: base,
      ASTRDESK_INSTANCE_TOKEN: token,
      SIDECAR_API_TOKEN: API_TOKEN,
      SIDECAR_PORT: '0',
      SIDECAR_DATA_DIR: dir,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      SIDECAR_RECONNECT_MIN_MS: '20',
      SIDECAR_RECONNECT_MAX_MS: '200',
      SIDECAR_OUTBOX_RETRY_MIN_MS: '10',
      SIDECAR_OUTBOX_RETRY_MAX_MS: '100',
      ...extra,
    });
    const first = await ChildSidecar.start(env(instance.token));
    await first.waitLine(
      'EVENT',
      'the first run to sync set A',
      (e) => e.type === 'synced' && e.data.revision === 3,
    );
    await first.term();
    const setA = await serverEntriesViaDb(server, tenantId);
    const checksumA = checksumOf(setA);

    // The server's set grows to 20,003 entries (20 batches of 1,000; some expire, some have reasons).
    const soon = Date.now() + 3_600_000;
    for (let b = 0; b < 20; b++) {
      const r = await apiOk(200, base, 'POST', '/v1/blacklist/batch', owner, {
        entries: Array.from({ length: 1000 }, (_, i) => ({
          platform: i % 2 ? 'telegram' : 'qq',
          platform_user_id: `bulk-${b}-${i}`,
          ...(i % 10 === 0 ? { reason: `batch ${b}` } : {}),
          ...(i % 25 === 0 ? { expires_at: new Date(soon + b * 1000 + i).toISOString() } : {}),
        })),
      });
      expect(r.created).toBe(1000);
    }
    const serverSet = await serverEntriesViaDb(server, tenantId);
    expect(serverSet).toHaveLength(20_003);
    const serverChecksum = checksumOf(serverSet);

    // The instance token is rotated: the cache (synced under the old token) must be replaced by
    // a full snapshot, which is streamed in chunks of 2,000. The child is killed right after it
    // staged the first one.
    const rotated = await apiOk(
      200,
      base,
      'POST',
      `/v1/instances/${instance.id}/rotate-token`,
      owner,
    );
    const token = rotated.token as string;
    const second = await ChildSidecar.start(env(token, { E2E_PAUSE_AFTER_CHUNK: '1' }));
    const begin = await second.waitLine('SNAPSHOT_BEGIN', 'the snapshot to begin');
    expect(begin).toEqual({ revision: 20_003, total: 20_003 });
    const chunk = await second.waitLine('CHUNK', 'the first chunk to be staged');
    expect(chunk).toEqual({ n: 1, entries: 2000 });
    await second.kill9();
    expect(second.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(second.lines.filter((l) => l.startsWith('CHUNK '))).toHaveLength(1);
    expect(second.lines.some((l) => l.includes('"synced"'))).toBe(false);

    // On disk: the staged chunk, and the previous complete set with its revision.
    const files = dataFiles({ SIDECAR_DATA_DIR: dir });
    const raw = new Database(files.blacklist, { readonly: true });
    try {
      expect(raw.prepare('SELECT count(*) FROM blacklist_staging').pluck().get()).toBe(2000);
      expect(raw.prepare('SELECT count(*) FROM blacklist').pluck().get()).toBe(3);
      expect(raw.prepare("SELECT value FROM meta WHERE key = 'revision'").pluck().get()).toBe('3');
    } finally {
      raw.close();
    }

    // Restart (in process) with the channel held back: set A is enforced at once...
    const h = await startE2ESidecar(cleanups, base, token, { dir, start: { connect: false } });
    expect(h.sc.cache.revision).toBe(3);
    expect(h.sc.cache.size).toBe(3);
    expect(h.sc.cache.checksum()).toBe(checksumA);
    expect(
      h.logs().some((l) => l.msg.includes('discarded an incomplete snapshot') && l.staged === 2000),
    ).toBe(true);
    expect((await h.intercept({ user: 'old-1', messageId: 'k-1' })).body).toEqual({
      action: 'block',
      reason: 'spam',
      entry_id: a1.id,
    });
    expect((await h.intercept({ user: 'bulk-0-2', messageId: 'k-2' })).body.action).toBe('pass');

    // ...then it connects and converges to the server's set.
    h.sc.channel.start();
    await poll(() => h.sc.cache.checksum() === serverChecksum, 'the cache to match the server', {
      tries: 1200,
      intervalMs: 25,
    });
    await waitRevision(h, 20_003);
    expect(h.sc.cache.size).toBe(20_003);
    const bulk = serverSet.find((e) => e.platform_user_id === 'bulk-7-10')!;
    expect((await h.intercept({ user: 'bulk-7-10', messageId: 'k-3' })).body).toEqual({
      action: 'block',
      reason: 'batch 7',
      entry_id: bulk.id,
    });
    expect(h.events.filter((e) => e.type === 'synced').map((e) => e.data)).toEqual([
      { kind: 'snapshot', revision: 20_003, entries: 20_003 },
    ]);
  }, 180_000);
});

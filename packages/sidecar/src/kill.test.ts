/**
 * kill -9 for real: the built sidecar (dist/) runs in a child process and is SIGKILLed; the
 * data directory is then reopened. Skipped when dist/ is missing (build first: `npx tsup`;
 * turbo builds before tests).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startSidecar } from './index.js';
import {
  API_TOKEN,
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

const here = path.dirname(fileURLToPath(import.meta.url));
const built = fs.existsSync(path.join(here, '..', 'dist', 'index.js'));
const childScript = path.join(here, 'test-utils', 'child-sidecar.mjs');

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function spawnSidecar(
  serverUrl: string,
  dir: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [childScript], {
    env: {
      ...process.env,
      ASTRDESK_SERVER_URL: serverUrl,
      ASTRDESK_INSTANCE_TOKEN: INSTANCE_TOKEN,
      SIDECAR_API_TOKEN: API_TOKEN,
      SIDECAR_PORT: '0',
      SIDECAR_DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      SIDECAR_RECONNECT_MIN_MS: '20',
      SIDECAR_RECONNECT_MAX_MS: '200',
      SIDECAR_OUTBOX_RETRY_MIN_MS: '10',
      SIDECAR_OUTBOX_RETRY_MAX_MS: '100',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code} before READY`)));
  });
  return { child, url };
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

async function fakeServer(chunkSize = 2) {
  const ingest = await FakeIngestServer.start();
  ingest.token = INSTANCE_TOKEN;
  const control = await FakeControlServer.start({
    token: INSTANCE_TOKEN,
    attach: ingest.server,
    chunkSize,
  });
  cleanups.push(() => ingest.close());
  cleanups.push(() => control.close());
  return { ingest, control };
}

describe.skipIf(!built)('kill -9 of a running sidecar (child process, built dist/)', () => {
  it('every intercept answered before the kill is in the outbox afterwards and is delivered once', async () => {
    const { ingest, control } = await fakeServer();
    await ingest.stop(); // the server is down while the child runs
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { child, url } = await spawnSidecar(control.url, dir);
    const sent: string[] = [];
    for (let i = 0; i < 25; i++) {
      const body = interceptBody(i);
      const r = await post(`${url}/astrbot-api/v1/messages/intercept`, body);
      expect(r.status).toBe(200);
      sent.push(body.message_id);
    }
    await kill9(child);

    const sc = await startSidecar(testConfig(control.url, dir), { connect: false });
    cleanups.push(() => sc.close());
    expect(sc.outbox.depth).toBe(25);
    await ingest.listen();
    sc.outbox.start();
    await waitFor(() => sc.outbox.depth === 0, { what: 'drained', timeoutMs: 10_000 });
    expect(
      ingest.accepted.map((e) => (e.data as { platform_message_id: string }).platform_message_id),
    ).toEqual(sent);
    expect([...ingest.deliveries.values()].every((n) => n === 1)).toBe(true);
  });

  it('a kill mid-snapshot keeps the previous set and revision; the next start converges', async () => {
    const { control } = await fakeServer(2);
    const setA = [entry(1), entry(2), entry(3)];
    control.commit(...setA.map((e) => ({ upsert: e })));
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);

    const first = await spawnSidecar(control.url, dir);
    await waitFor(() => control.acks().includes(3), { what: 'child synced A' });
    await kill9(first.child);

    control.seed(
      Array.from({ length: 8 }, (_, i) => entry(100 + i)),
      20,
    );
    control.hooks.stallAfterChunks = 2;
    const sentBefore = control.chunksSent;
    const second = await spawnSidecar(control.url, dir);
    await waitFor(() => control.chunksSent === sentBefore + 2, { what: '2 of 4 chunks sent' });
    await new Promise((r) => setTimeout(r, 300)); // let the child stage them
    await kill9(second.child);

    // The child had staged the 2 chunks; the live set is untouched.
    const raw = new Database(path.join(dir, 'blacklist.db'), { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM blacklist_staging').pluck().get()).toBe(4);
    expect(raw.prepare("SELECT value FROM meta WHERE key = 'revision'").pluck().get()).toBe('3');
    raw.close();

    delete control.hooks.stallAfterChunks;
    const sc = await startSidecar(testConfig(control.url, dir), { connect: false });
    cleanups.push(() => sc.close());
    expect(sc.cache.revision).toBe(3);
    expect(sc.cache.size).toBe(3);
    expect(
      (await post(`${sc.url}/astrbot-api/v1/messages/intercept`, interceptBody(1))).body.action,
    ).toBe('block');
    sc.channel.start();
    await waitFor(() => sc.cache.revision === 20, { what: 'converged' });
    expect(sc.cache.checksum()).toBe(control.checksum());
  });
});

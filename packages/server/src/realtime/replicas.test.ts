/**
 * Two server processes — this one and a real `astrdesk-server` child (the built bin) — on one
 * PostgreSQL schema and one Redis: an event written through one reaches sockets on the other.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../infra/db/index.js';
import { PG_URL, type TestDatabase } from '../test-utils/index.js';
import {
  type RealtimeTestServer,
  startRealtimeServer,
  type TenantCreds,
  TestClient,
} from './testing.js';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');
const enabled = Boolean(process.env.REDIS_URL) && process.env.ASTRDESK_TEST_DB === 'postgres';

/** `DATABASE_URL` carries no schema option, so the search path goes in libpq's `options`. */
function urlWithSearchPath(url: string, schema: string) {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

describe.skipIf(!enabled)('two server processes on one PostgreSQL + Redis', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-replica-'));
  let one: RealtimeTestServer;
  let child: ChildProcessWithoutNullStreams | undefined;
  let twoWs = '';
  let tenant: TenantCreds;
  let key: { id: string; secret: string };
  const clients: TestClient[] = [];
  const connect = (...args: Parameters<typeof TestClient.connect>) => {
    const c = TestClient.connect(...args);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const db: TestDatabase = {
      handle: openDatabase({ kind: 'postgres', url: PG_URL, schema, poolSize: 5 }),
      env: { DATABASE_URL: PG_URL },
      async drop() {
        const admin = openDatabase({ kind: 'postgres', url: PG_URL, poolSize: 1 });
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
        await admin.close();
      },
    };
    // Server one, in this process, migrates the schema.
    one = await startRealtimeServer({}, db);
    tenant = await one.tenant('Replica');
    key = await one.apiKey(tenant.token, ['conversations:read']);

    // Server two: the real bin, its own process, its own Redis connections and bus.
    expect(fs.existsSync(bin), `${bin} (run the package build first)`).toBe(true);
    child = spawn(process.execPath, [bin], {
      env: {
        ...process.env,
        DATABASE_URL: urlWithSearchPath(PG_URL, schema),
        REDIS_URL: process.env.REDIS_URL ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        ASTRDESK_MASTER_KEY: one.masterKey,
        LOG_LEVEL: 'info',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const proc = child;
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no listen line: ${out}`)), 30_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        const m = /"url":"(http:[^"]+)"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => {
        const hint = /migration/.test(out)
          ? ' (is packages/server/dist older than src? turbo builds it before tests; or run `npx tsup`)'
          : '';
        reject(new Error(`server two exited ${code}${hint}: ${out}`));
      });
    });
    twoWs = url.replace(/^http/, 'ws');
  });

  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    if (child && child.exitCode === null) {
      const proc = child;
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      });
    }
    await one?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('server two shares the database: it knows the credential made on server one', async () => {
    const c = connect(twoWs, key.secret);
    const ready = await c.ready();
    expect(ready.principal).toEqual({ kind: 'api_key', id: key.id });
  });

  it('an event written through server one reaches sockets on both servers, in order', async () => {
    const onTwo = connect(twoWs, key.secret);
    const onOne = connect(one.wsUrl, tenant.token);
    const [r2, r1] = await Promise.all([onTwo.ready(), onOne.ready()]);
    expect(r2.last_seq).toBe(r1.last_seq);
    const written = await one.emit(tenant.tenantId, 5);
    const last = written[4]!.seq;
    await Promise.all([onTwo.untilSeq(last), onOne.untilSeq(last)]);
    expect(onTwo.events.map((e) => e.id)).toEqual(written.map((e) => e.id));
    expect(onOne.events.map((e) => e.id)).toEqual(written.map((e) => e.id));
  });

  it('a socket on server two resumes from the shared log after missing events', async () => {
    const first = connect(twoWs, key.secret);
    const ready = await first.ready();
    await first.close();
    const missed = await one.emit(tenant.tenantId, 3);
    const again = connect(twoWs, key.secret, { lastSeq: ready.last_seq });
    await again.untilSeq(missed[2]!.seq);
    const live = await one.emit(tenant.tenantId, 2);
    await again.untilSeq(live[1]!.seq);
    expect(again.seqs).toEqual([...missed, ...live].map((e) => e.seq));
  });
});

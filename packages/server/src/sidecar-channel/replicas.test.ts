/**
 * Two server processes on one PostgreSQL + Redis: a blacklist change written through one
 * reaches sidecars connected to either. The second server is a real child process (the built
 * bin) sharing the first one's schema.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerFrame } from '@astrdesk/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../config.js';
import { openDatabase } from '../infra/db/index.js';
import { createOperator } from '../operators/index.js';
import { type RunningServer, startServer } from '../server.js';
import { PG_URL, TEST_DB } from '../test-utils/index.js';

const enabled = TEST_DB === 'postgres' && Boolean(process.env.REDIS_URL);
const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');

async function waitFor<T>(
  fn: () => T | undefined | Promise<T | undefined>,
  what: string,
  tries = 400,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(!enabled)('two server replicas (PostgreSQL + Redis)', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const masterKey = randomBytes(32).toString('base64');
  let a: RunningServer;
  let child: ChildProcess;
  let bUrl: string;
  let owner: string;
  let instanceToken: string;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-replica-'));
    a = await startServer({
      config: loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dir,
        LOG_LEVEL: 'silent',
        ASTRDESK_MASTER_KEY: masterKey,
        REDIS_URL: process.env.REDIS_URL!,
      }),
      database: openDatabase({ kind: 'postgres', url: PG_URL, schema, poolSize: 4 }),
    });
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    child = spawn(process.execPath, [bin], {
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dir,
        LOG_LEVEL: 'info',
        ASTRDESK_MASTER_KEY: masterKey,
        DATABASE_URL: url.toString(),
        REDIS_URL: process.env.REDIS_URL!,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    bUrl = await waitFor(() => /"url":"(http:[^"]+)"/.exec(out)?.[1], 'second server to listen');
    const post = async (base: string, p: string, body: unknown, token?: string) => {
      const r = await fetch(`${base}${p}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      return (await r.json()) as any;
    };
    const op = await createOperator(a.services.db, 'op');
    const email = `r${Date.now()}@replica.example`;
    const s = await post(a.url, '/v1/signup', {
      company_name: 'R',
      contact_name: 'R',
      contact_email: email,
      owner_password: 'correct-horse-battery',
    });
    await post(a.url, `/v1/admin/tenants/${s.tenant.id}/approve`, {}, op.token);
    owner = (await post(a.url, '/v1/auth/login', { email, password: 'correct-horse-battery' }))
      .token;
    instanceToken = (await post(a.url, '/v1/instances', { name: 'bot', platforms: ['qq'] }, owner))
      .token;
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await a?.close();
    const admin = openDatabase({ kind: 'postgres', url: PG_URL, poolSize: 1 });
    await admin.db.schema.dropSchema(schema).ifExists().cascade().execute();
    await admin.close();
  });

  it('a change committed on server A reaches sidecars on A and on B', async () => {
    const connect = (base: string) => {
      const frames: ServerFrame[] = [];
      const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/sidecar/connect`, {
        headers: { authorization: `Bearer ${instanceToken}` },
      });
      ws.on('open', () =>
        ws.send(JSON.stringify({ v: 1, type: 'hello', since: 0, version: 'test' })),
      );
      ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
      return { ws, frames };
    };
    const onA = connect(a.url);
    const onB = connect(bUrl);
    await waitFor(
      () =>
        onA.frames.some((f) => f.type === 'welcome') &&
        onB.frames.some((f) => f.type === 'welcome'),
      'both channels',
    );
    const r = await fetch(`${a.url}/v1/blacklist`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${owner}` },
      body: JSON.stringify({ platform: 'qq', platform_user_id: 'cross-replica', reason: 'spam' }),
    });
    expect(r.status).toBe(201);
    const got = (frames: ServerFrame[]) =>
      frames.some(
        (f) =>
          f.type === 'delta' &&
          f.changes.some((c) => c.op === 'upsert' && c.entry.platform_user_id === 'cross-replica'),
      );
    await waitFor(() => got(onA.frames), 'delta on A');
    await waitFor(() => got(onB.frames), 'delta on B');
    onA.ws.close();
    onB.ws.close();
  });
});

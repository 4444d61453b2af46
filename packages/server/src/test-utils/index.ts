/**
 * Test harness: a real app on a real database — a temp SQLite file, or a fresh PostgreSQL
 * schema when ASTRDESK_TEST_DB=postgres — with logs captured so tests can read them.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { closeServices, createApp, createServices } from '../app.js';
import { loadConfig } from '../config.js';
import { type DatabaseHandle, openDatabase } from '../infra/db/index.js';
import type { Services } from '../infra/services.js';
import { createOperator } from '../operators/index.js';

export const TEST_DB = process.env.ASTRDESK_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
export const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  handle: DatabaseHandle;
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A fresh, empty database of the kind this run tests. */
export function testDatabase(): TestDatabase {
  if (TEST_DB === 'postgres') {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const handle = openDatabase({ kind: 'postgres', url: PG_URL, schema, poolSize: 5 });
    return {
      handle,
      env: { DATABASE_URL: PG_URL },
      async drop() {
        const admin = openDatabase({ kind: 'postgres', url: PG_URL, poolSize: 1 });
        await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(admin.db);
        await admin.close();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-test-'));
  const handle = openDatabase({ kind: 'sqlite', file: path.join(dir, 'test.db') });
  return {
    handle,
    env: { DATA_DIR: dir },
    async drop() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CallOptions {
  token?: string | undefined;
  body?: unknown;
  /** Sent as-is instead of JSON.stringify(body). */
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface CallResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface TestServer {
  services: Services;
  app: ReturnType<typeof createApp>;
  logs: string[];
  operatorToken: string;
  /** Moves the server's clock forward. */
  advance(ms: number): void;
  call<T = any>(method: string, url: string, opts?: CallOptions): Promise<CallResult<T>>;
  /** Signs up a tenant, approves it, logs the owner in. */
  tenant(
    name: string,
  ): Promise<{ tenantId: string; ownerId: string; token: string; email: string }>;
  close(): Promise<void>;
}

export async function createTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const db = testDatabase();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const dataDir = db.env.DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-test-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    ASTRDESK_MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'info',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...db.env,
    ...env,
  });
  let offset = 0;
  const services = await createServices({
    config,
    database: db.handle,
    logger: pino({ level: 'info' }, sink),
    now: () => Date.now() + offset,
  });
  const app = createApp(services);
  const operator = await createOperator(services.db, 'test operator');

  const call = async (method: string, url: string, opts: CallOptions = {}): Promise<CallResult> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.rawBody !== undefined) body = opts.rawBody;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (
      body !== undefined &&
      !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')
    ) {
      headers['content-type'] = 'application/json';
    }
    const res = await app.request(url, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };

  let n = 0;
  const tenant = async (name: string) => {
    n++;
    const email = `owner${n}-${randomBytes(4).toString('hex')}@${name.toLowerCase().replace(/[^a-z0-9]/g, '')}.example`;
    const password = 'correct-horse-battery';
    const s = await call('POST', '/v1/signup', {
      body: {
        company_name: name,
        contact_name: `${name} Owner`,
        contact_email: email,
        owner_password: password,
      },
    });
    if (s.status !== 201) throw new Error(`signup failed: ${s.status} ${JSON.stringify(s.body)}`);
    const tenantId = s.body.tenant.id as string;
    if (s.body.tenant.status !== 'active') {
      const a = await call('POST', `/v1/admin/tenants/${tenantId}/approve`, {
        token: operator.token,
        body: {},
      });
      if (a.status !== 200)
        throw new Error(`approve failed: ${a.status} ${JSON.stringify(a.body)}`);
    }
    const l = await call('POST', '/v1/auth/login', { body: { email, password } });
    if (l.status !== 200) throw new Error(`login failed: ${l.status} ${JSON.stringify(l.body)}`);
    return { tenantId, ownerId: s.body.owner_id as string, token: l.body.token as string, email };
  };

  return {
    services,
    app,
    logs,
    operatorToken: operator.token,
    advance: (ms) => {
      offset += ms;
    },
    call,
    tenant,
    async close() {
      await closeServices(services);
      await db.drop();
      if (!db.env.DATA_DIR) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

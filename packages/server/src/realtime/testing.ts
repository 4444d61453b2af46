/**
 * Helpers for the realtime tests: a real server on a loopback port, credentials obtained over
 * HTTP the way a customer would, and a `ws` client that records what it receives.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { EventType } from '@astrdesk/protocol';
import pino from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../config.js';
import { createOperator } from '../operators/index.js';
import { type RunningServer, startServer } from '../server.js';
import { type TestDatabase, testDatabase } from '../test-utils/index.js';

export interface Envelope {
  seq: number;
  id: string;
  type: string;
  data: Record<string, unknown>;
  created_at: string;
}

export type Frame =
  | { type: 'ready'; last_seq: number; principal: { kind: string; id: string } }
  | { type: 'event'; event: Envelope }
  | { type: 'resync_required'; reason: string; last_seq: number }
  | { type: 'pong'; ts?: number }
  | { type: 'error'; code: string; message: string };

/** Polls `check` until it returns something truthy (or throws after `timeoutMs`). */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface HttpResult {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected field by field
  body: any;
}

export async function http(
  base: string,
  method: string,
  url: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${url}`, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* keep text */
  }
  return { status: res.status, body };
}

export interface TenantCreds {
  tenantId: string;
  ownerId: string;
  /** The owner's session token. */
  token: string;
}

/** A running server plus the credentials helpers the tests need. */
export interface RealtimeTestServer {
  server: RunningServer;
  url: string;
  wsUrl: string;
  operatorToken: string;
  masterKey: string;
  /** The server's log lines (JSON), captured at info level. */
  logs: string[];
  call(method: string, url: string, opts?: { token?: string; body?: unknown }): Promise<HttpResult>;
  tenant(name: string): Promise<TenantCreds>;
  apiKey(ownerToken: string, scopes: string[]): Promise<{ id: string; secret: string }>;
  /** Creates a member with a password and logs them in; returns the session token. */
  member(ownerToken: string, role: 'admin' | 'agent'): Promise<{ id: string; token: string }>;
  /** Appends events to a tenant's log the way every write does; returns them. */
  emit(
    tenantId: string,
    count: number,
    opts?: { visibility?: 'all' | 'admin'; type?: EventType; payload?: string },
  ): Promise<Array<{ seq: number; id: string }>>;
  close(): Promise<void>;
}

export async function startRealtimeServer(
  env: Record<string, string> = {},
  db: TestDatabase = testDatabase(),
): Promise<RealtimeTestServer> {
  const dataDir = db.env.DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-rt-'));
  const masterKey = randomBytes(32).toString('base64');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const server = await startServer({
    logger: pino({ level: 'info' }, sink),
    config: loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ASTRDESK_MASTER_KEY: masterKey,
      LOG_LEVEL: 'silent',
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      ...db.env,
      ...env,
    }),
    database: db.handle,
  });
  const operator = await createOperator(server.services.db, 't');
  const call = (method: string, url: string, opts: { token?: string; body?: unknown } = {}) =>
    http(server.url, method, url, opts);

  let n = 0;
  const password = 'correct-horse-battery';
  const tenant = async (name: string): Promise<TenantCreds> => {
    n++;
    const email = `owner${n}-${randomBytes(4).toString('hex')}@${name.toLowerCase()}.example`;
    const s = await call('POST', '/v1/signup', {
      body: {
        company_name: name,
        contact_name: `${name} Owner`,
        contact_email: email,
        owner_password: password,
      },
    });
    if (s.status !== 201) throw new Error(`signup: ${s.status} ${JSON.stringify(s.body)}`);
    const tenantId = s.body.tenant.id as string;
    if (s.body.tenant.status !== 'active') {
      const a = await call('POST', `/v1/admin/tenants/${tenantId}/approve`, {
        token: operator.token,
        body: {},
      });
      if (a.status !== 200) throw new Error(`approve: ${a.status} ${JSON.stringify(a.body)}`);
    }
    const l = await call('POST', '/v1/auth/login', { body: { email, password } });
    if (l.status !== 200) throw new Error(`login: ${l.status} ${JSON.stringify(l.body)}`);
    return { tenantId, ownerId: s.body.owner_id as string, token: l.body.token as string };
  };

  const apiKey = async (ownerToken: string, scopes: string[]) => {
    const r = await call('POST', '/v1/api-keys', {
      token: ownerToken,
      body: { name: `rt ${scopes.join(' ')}`, scopes },
    });
    if (r.status !== 201) throw new Error(`api key: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.id as string, secret: r.body.secret as string };
  };

  const member = async (ownerToken: string, role: 'admin' | 'agent') => {
    n++;
    const email = `${role}${n}-${randomBytes(4).toString('hex')}@members.example`;
    const r = await call('POST', '/v1/members', {
      token: ownerToken,
      body: { email, name: `${role} ${n}`, role, password },
    });
    if (r.status !== 201) throw new Error(`member: ${r.status} ${JSON.stringify(r.body)}`);
    const l = await call('POST', '/v1/auth/login', { body: { email, password } });
    if (l.status !== 200) throw new Error(`login: ${l.status} ${JSON.stringify(l.body)}`);
    return { id: r.body.id as string, token: l.body.token as string };
  };

  const emit: RealtimeTestServer['emit'] = async (tenantId, count, opts = {}) =>
    server.services.events.transact(tenantId, async (_tx, emitEvent) => {
      const out: Array<{ seq: number; id: string }> = [];
      for (let i = 0; i < count; i++) {
        const e = await emitEvent(
          opts.type ?? 'message.created',
          { i, text: opts.payload ?? `hello ${i}` },
          { visibility: opts.visibility ?? 'all' },
        );
        out.push({ seq: e.seq, id: e.id });
      }
      return out;
    });

  return {
    server,
    url: server.url,
    wsUrl: server.url.replace(/^http/, 'ws'),
    operatorToken: operator.token,
    masterKey,
    logs,
    call,
    tenant,
    apiKey,
    member,
    emit,
    async close() {
      await server.close();
      await db.drop();
      if (!db.env.DATA_DIR) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A `ws` client that records every frame and how the socket ended. */
export class TestClient {
  readonly frames: Frame[] = [];
  /** Server pings seen. */
  pings = 0;
  closeInfo: { code: number; reason: string } | undefined;
  /** Set when the server refused the upgrade. */
  refused: HttpResult | undefined;
  readonly opened: Promise<boolean>;
  readonly ws: WebSocket;

  constructor(url: string, opts: { headers?: Record<string, string>; autoPong?: boolean } = {}) {
    this.ws = new WebSocket(url, {
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(opts.autoPong === false ? { autoPong: false } : {}),
    });
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as Frame);
    });
    this.ws.on('ping', () => {
      this.pings++;
    });
    this.ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
    });
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => resolve(true));
      this.ws.once('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* keep text */
          }
          this.refused = { status: res.statusCode ?? 0, body };
          resolve(false);
        });
      });
      this.ws.once('error', () => resolve(false));
    });
  }

  /** Connects with `?token=` or the bearer header, optionally resuming. */
  static connect(
    wsUrl: string,
    token: string | undefined,
    opts: { via?: 'header' | 'query'; lastSeq?: number; autoPong?: boolean; path?: string } = {},
  ): TestClient {
    const q = new URLSearchParams();
    if (token && opts.via === 'query') q.set('token', token);
    if (opts.lastSeq !== undefined) q.set('last_seq', String(opts.lastSeq));
    const qs = q.toString();
    return new TestClient(`${wsUrl}${opts.path ?? '/v1/realtime'}${qs ? `?${qs}` : ''}`, {
      ...(token && opts.via !== 'query' ? { headers: { authorization: `Bearer ${token}` } } : {}),
      ...(opts.autoPong !== undefined ? { autoPong: opts.autoPong } : {}),
    });
  }

  get events(): Envelope[] {
    return this.frames.flatMap((f) => (f.type === 'event' ? [f.event] : []));
  }

  get seqs(): number[] {
    return this.events.map((e) => e.seq);
  }

  /** Waits for the `ready` frame. */
  async ready(): Promise<Extract<Frame, { type: 'ready' }>> {
    const ok = await this.opened;
    if (!ok) throw new Error(`upgrade refused: ${JSON.stringify(this.refused)}`);
    return waitUntil(
      () => this.frames.find((f): f is Extract<Frame, { type: 'ready' }> => f.type === 'ready'),
      'ready frame',
    );
  }

  /** Waits until an event with `seq` (or higher) arrived. */
  async untilSeq(seq: number): Promise<void> {
    await waitUntil(() => this.events.some((e) => e.seq >= seq), `event seq ${seq}`);
  }

  async closed(): Promise<{ code: number; reason: string }> {
    return waitUntil(() => this.closeInfo, 'socket close');
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await waitUntil(() => this.closeInfo, 'client close').catch(() => this.ws.terminate());
  }
}

/**
 * End-to-end harness: the REAL AstrDesk server (`@astrdesk/server`, its built package) and the
 * real sidecar, on loopback only.
 *
 * - {@link e2eDatabase}: a fresh database of the kind this run tests — a temporary SQLite file,
 *   or (ASTRDESK_TEST_DB=postgres) a fresh schema on DATABASE_URL that is dropped afterwards.
 *   It can be reopened, so a server can be stopped and started again on the same data.
 * - {@link startRealServer}: `startServer` on 127.0.0.1 (port 0, or a given port to come back on).
 * - {@link setupTenant}: signup → approve (operator token) → login → `POST /v1/instances`.
 * - {@link poll}: every wait here is bounded by a number of tries.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { blacklistChecksum, ServerFrame } from '@astrdesk/protocol';
import {
  createOperator,
  type DatabaseHandle,
  loadConfig as loadServerConfig,
  openDatabase,
  type RunningServer,
  startServer,
} from '@astrdesk/server';
import pino, { type Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { type RunningSidecar, type StartSidecarOptions, startSidecar } from '../index.js';
import { API_TOKEN, tempDir, testConfig } from '../test-utils/index.js';

export const TEST_DB = process.env.ASTRDESK_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
export const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL;
const LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';

/** A JSON value read off the wire; the tests' assertions check its shape. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON from the server, the sidecar and logs
export type Json = any;

// ---- cleanup ------------------------------------------------------------------------------------

/** Cleanups registered by a test, run in reverse order by `run()` (from afterEach). */
export class Cleanups {
  #list: (() => unknown)[] = [];
  add(fn: () => unknown): void {
    this.#list.push(fn);
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const fn of this.#list.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

// ---- bounded waits ------------------------------------------------------------------------------

/**
 * Calls `fn` until it returns something other than undefined/false/null, at most `tries` times
 * with `intervalMs` between tries; then throws naming `what` (and the last error, if any).
 */
export async function poll<T>(
  fn: () => T | Promise<T>,
  what: string,
  { tries = 400, intervalMs = 25 }: { tries?: number; intervalMs?: number } = {},
): Promise<Exclude<T, undefined | null | false>> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false)
        return v as Exclude<T, undefined | null | false>;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `gave up waiting for ${what} after ${tries} tries${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- database -----------------------------------------------------------------------------------

export interface E2EDatabase {
  kind: 'sqlite' | 'postgres';
  /** A new handle on the same data (the server closes its handle when it stops). */
  open(): DatabaseHandle;
  /** For a second server process: its DATABASE_URL (PostgreSQL: with the schema as search_path). */
  databaseUrl: string;
  /** Also the server's DATA_DIR. */
  dir: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: SQLite in a temp dir, or a new PostgreSQL schema (dropped after). */
export function e2eDatabase(kind: 'sqlite' | 'postgres' = TEST_DB): E2EDatabase {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-e2e-server-'));
  if (kind === 'postgres') {
    const schema = `t_e2e_${randomBytes(6).toString('hex')}`;
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return {
      kind: 'postgres',
      open: () => openDatabase({ kind: 'postgres', url: PG_URL, schema, poolSize: 5 }),
      databaseUrl: url.toString(),
      dir,
      async drop() {
        const admin = openDatabase({ kind: 'postgres', url: PG_URL, poolSize: 1 });
        try {
          await admin.db.schema.dropSchema(schema).ifExists().cascade().execute();
        } finally {
          await admin.close();
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const file = path.join(dir, 'astrdesk.db');
  return {
    kind: 'sqlite',
    open: () => openDatabase({ kind: 'sqlite', file }),
    databaseUrl: `sqlite:${file}`,
    dir,
    async drop() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- server -------------------------------------------------------------------------------------

export const MASTER_KEY = randomBytes(32).toString('base64');

/** The real server on 127.0.0.1 over `db` (port 0 unless given: a restart reuses the port). */
export async function startRealServer(
  db: E2EDatabase,
  opts: { port?: number; env?: Record<string, string> } = {},
): Promise<RunningServer> {
  const config = loadServerConfig({
    PORT: String(opts.port ?? 0),
    HOST: '127.0.0.1',
    DATA_DIR: db.dir,
    LOG_LEVEL,
    ASTRDESK_MASTER_KEY: MASTER_KEY,
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...(REDIS_URL ? { REDIS_URL } : {}),
    ...opts.env,
  });
  return startServer({ config, database: db.open() });
}

export interface ApiResult<T = Json> {
  status: number;
  body: T;
}

/** One JSON call to the server's REST API. */
export async function api<T = Json>(
  base: string,
  method: string,
  p: string,
  token?: string,
  body?: unknown,
): Promise<ApiResult<T>> {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, body: parsed as T };
}

/** Like {@link api} but throws unless the status is the expected one. */
export async function apiOk<T = Json>(
  expected: number,
  base: string,
  method: string,
  p: string,
  token?: string,
  body?: unknown,
): Promise<T> {
  const r = await api<T>(base, method, p, token, body);
  if (r.status !== expected)
    throw new Error(
      `${method} ${p}: expected ${expected}, got ${r.status} ${JSON.stringify(r.body)}`,
    );
  return r.body;
}

export interface Tenant {
  tenantId: string;
  /** The owner's session token. */
  owner: string;
  operatorToken: string;
}

/** Signup → approve with an operator token → owner login, all over HTTP. */
export async function setupTenant(server: RunningServer, name = 'E2E'): Promise<Tenant> {
  const op = await createOperator(server.services.db, 'e2e operator');
  const email = `owner-${randomBytes(5).toString('hex')}@e2e.example`;
  const password = 'correct-horse-battery';
  const s = await apiOk(201, server.url, 'POST', '/v1/signup', undefined, {
    company_name: name,
    contact_name: `${name} Owner`,
    contact_email: email,
    owner_password: password,
  });
  const tenantId = s.tenant.id as string;
  if (s.tenant.status !== 'active')
    await apiOk(200, server.url, 'POST', `/v1/admin/tenants/${tenantId}/approve`, op.token, {});
  const login = await apiOk(200, server.url, 'POST', '/v1/auth/login', undefined, {
    email,
    password,
  });
  return { tenantId, owner: login.token as string, operatorToken: op.token };
}

/** `POST /v1/instances`: the instance id and its token (shown once). */
export async function createInstance(
  base: string,
  owner: string,
  name = 'bot',
): Promise<{ id: string; token: string }> {
  const r = await apiOk(201, base, 'POST', '/v1/instances', owner, {
    name,
    platforms: ['qq', 'telegram'],
  });
  return { id: r.id as string, token: r.token as string };
}

export interface ServerEntry {
  id: string;
  platform: string;
  platform_user_id: string;
  reason: string | null;
  expires_at: number | null;
}

/** Every entry of the tenant, read through `GET /v1/blacklist` page by page. */
export async function serverEntriesViaApi(base: string, owner: string): Promise<ServerEntry[]> {
  const out: ServerEntry[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10_000; page++) {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const r = await apiOk(200, base, 'GET', `/v1/blacklist?limit=100${q}`, owner);
    for (const e of r.data as Json[])
      out.push({
        id: e.id,
        platform: e.platform,
        platform_user_id: e.platform_user_id,
        reason: e.reason,
        expires_at: e.expires_at === null ? null : Date.parse(e.expires_at),
      });
    if (!r.has_more) return out;
    cursor = r.next_cursor;
  }
  throw new Error('GET /v1/blacklist did not end');
}

/** Every entry of the tenant, read from the server's database (fast for large sets). */
export async function serverEntriesViaDb(
  server: RunningServer,
  tenantId: string,
): Promise<ServerEntry[]> {
  const rows = await server.services.db
    .selectFrom('blacklist_entries')
    .select(['id', 'platform', 'platform_user_id', 'reason', 'expires_at'])
    .where('tenant_id', '=', tenantId)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    platform: r.platform,
    platform_user_id: r.platform_user_id,
    reason: r.reason,
    expires_at: r.expires_at === null ? null : Number(r.expires_at),
  }));
}

export const checksumOf = (entries: Iterable<ServerEntry>) => blacklistChecksum(entries);

/** The tenant's blacklist revision as the server reports it on the instance. */
export async function instanceSync(base: string, owner: string, instanceId: string) {
  const r = await apiOk(200, base, 'GET', `/v1/instances/${instanceId}`, owner);
  return r.sync as {
    revision: number;
    applied_revision: number;
    online: boolean;
    lag: number;
  };
}

// ---- sidecar ------------------------------------------------------------------------------------

/** A pino logger whose JSON lines are kept (and echoed when TEST_LOG_LEVEL is set). */
export function capturingLogger(): { log: Logger; lines: () => Json[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      if (process.env.TEST_LOG_LEVEL) process.stdout.write(chunk);
      cb();
    },
  });
  return {
    log: pino({ level: 'info', base: { service: 'sidecar-e2e' } }, sink),
    lines: () =>
      lines.flatMap((l) =>
        l
          .split('\n')
          .filter(Boolean)
          .map((x) => JSON.parse(x)),
      ),
  };
}

export interface SidecarHandle {
  sc: RunningSidecar;
  dir: string;
  /** Every event the channel emitted, in order. */
  events: Array<{ type: string; data: Json }>;
  logs: () => Json[];
  intercept(body: InterceptInput): Promise<ApiResult>;
  close(): Promise<void>;
}

export interface InterceptInput {
  user: string;
  messageId: string;
  platform?: string;
  text?: string;
  sentAt?: string;
}

/** An InterceptRequest as the AstrBot plugin sends it. */
export function interceptRequest(i: InterceptInput) {
  return {
    platform: i.platform ?? 'qq',
    platform_instance_id: 'aiocqhttp-1',
    user_id: i.user,
    nickname: `nick ${i.user}`,
    session: `aiocqhttp:FriendMessage:${i.user}`,
    message_id: i.messageId,
    kind: 'text' as const,
    text: i.text ?? `hello from ${i.user}`,
    sent_at: i.sentAt ?? '2026-01-01T10:00:00.000Z',
  };
}

/** `POST {sidecar}/astrbot-api/v1/messages/intercept` with the plugin's bearer. */
export async function interceptAt(sidecarUrl: string, i: InterceptInput): Promise<ApiResult> {
  const res = await fetch(`${sidecarUrl}/astrbot-api/v1/messages/intercept`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_TOKEN}` },
    body: JSON.stringify(interceptRequest(i)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const CHANNEL_EVENTS = [
  'connected',
  'welcome',
  'synced',
  'resync',
  'disconnected',
  'protocol_error',
] as const;

/** The real sidecar, in process, on a data dir (a new temp dir unless given). */
export async function startE2ESidecar(
  cleanups: Cleanups,
  serverUrl: string,
  instanceToken: string,
  opts: { dir?: string; env?: Record<string, string>; start?: StartSidecarOptions } = {},
): Promise<SidecarHandle> {
  let dir = opts.dir;
  if (dir === undefined) {
    const t = tempDir('astrdesk-e2e-sidecar-');
    cleanups.add(t.cleanup);
    dir = t.dir;
  }
  const { log, lines } = capturingLogger();
  const sc = await startSidecar(
    testConfig(serverUrl, dir, { ASTRDESK_INSTANCE_TOKEN: instanceToken, ...opts.env }),
    { logger: log, ...opts.start },
  );
  const events: SidecarHandle['events'] = [];
  for (const type of CHANNEL_EVENTS)
    sc.channel.on(type, (data?: unknown) => events.push({ type, data }));
  const handle: SidecarHandle = {
    sc,
    dir,
    events,
    logs: lines,
    intercept: (i) => interceptAt(sc.url, i),
    close: () => sc.close(),
  };
  cleanups.add(() => sc.close());
  return handle;
}

/** Waits until the sidecar's cache is at `revision` (applied and persisted). */
export function waitRevision(h: SidecarHandle, revision: number, tries = 400) {
  return poll(() => h.sc.cache.revision === revision, `sidecar at revision ${revision}`, {
    tries,
  });
}

// ---- a loopback relay between a sidecar and the server that can lose a control frame -----------

/**
 * Sits between a sidecar and the real server (HTTP is forwarded as-is; the control channel's
 * WebSocket is relayed frame by frame). `drop` decides, per server → sidecar frame, whether it
 * is lost in transit: the way to make the real server's stream skip a revision.
 */
export class LossyRelay {
  readonly url: string;
  /** Return true to lose this server → sidecar frame. */
  drop: ((frame: ServerFrame) => boolean) | undefined;
  readonly dropped: ServerFrame[] = [];
  /** Return true to forward this HTTP request but lose the server's answer (reset the socket). */
  loseAnswer: ((method: string, url: string) => boolean) | undefined;
  readonly lostAnswers: string[] = [];
  readonly #server: http.Server;
  readonly #sockets = new Set<WebSocket>();

  private constructor(server: http.Server, url: string) {
    this.#server = server;
    this.url = url;
  }

  static async start(target: string): Promise<LossyRelay> {
    const t = new URL(target);
    let relay: LossyRelay | undefined;
    const server = http.createServer((req, res) => {
      const up = http.request(
        {
          host: t.hostname,
          port: t.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: t.host },
        },
        (ures) => {
          if (relay?.loseAnswer?.(req.method ?? 'GET', req.url ?? '/')) {
            // The server handled the request; its answer never reaches the caller.
            relay?.lostAnswers.push(`${req.method} ${req.url}`);
            ures.resume();
            res.socket?.destroy();
            return;
          }
          res.writeHead(ures.statusCode ?? 502, ures.headers);
          ures.pipe(res);
        },
      );
      up.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.pipe(up);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const r = new LossyRelay(server, `http://127.0.0.1:${port}`);
    relay = r;
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => {});
      const upstream = new WebSocket(`ws://${t.host}${req.url ?? '/'}`, {
        headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
        perMessageDeflate: false,
      });
      const early: WebSocket.RawData[] = [];
      let down: WebSocket | undefined;
      upstream.on('message', (data, isBinary) => {
        if (!down) {
          early.push(data);
          return;
        }
        r.#forward(down, data, isBinary);
      });
      upstream.once('unexpected-response', (_req, res) => {
        socket.end(`HTTP/1.1 ${res.statusCode ?? 502} Refused\r\nConnection: close\r\n\r\n`);
        upstream.terminate();
      });
      upstream.on('error', () => {
        if (!down) socket.destroy();
      });
      upstream.once('open', () => {
        wss.handleUpgrade(req, socket, head, (ws) => {
          down = ws;
          r.#sockets.add(ws).add(upstream);
          for (const d of early.splice(0)) r.#forward(ws, d, false);
          ws.on('message', (data, isBinary) => {
            if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
          });
          ws.on('error', () => {});
          ws.on('close', (code, reason) => {
            r.#sockets.delete(ws);
            closeWith(upstream, code, reason.toString());
          });
          upstream.on('close', (code, reason) => {
            r.#sockets.delete(upstream);
            closeWith(ws, code, reason.toString());
          });
        });
      });
    });
    return r;
  }

  #forward(down: WebSocket, data: WebSocket.RawData, isBinary: boolean) {
    if (!isBinary && this.drop) {
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString());
      } catch {}
      const frame = ServerFrame.safeParse(raw);
      if (frame.success && this.drop(frame.data)) {
        this.dropped.push(frame.data);
        return;
      }
    }
    if (down.readyState === WebSocket.OPEN) down.send(data, { binary: isBinary });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.terminate();
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }
}

function closeWith(ws: WebSocket, code: number, reason: string) {
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  // 1005/1006/1015 only describe a close; they cannot be sent.
  const sendable = code >= 1000 && code <= 4999 && ![1004, 1005, 1006, 1015].includes(code);
  if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  else ws.close(sendable ? code : 1000, reason);
}

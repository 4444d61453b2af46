import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { AstrDesk } from './client.js';
import { AstrDeskError, AuthenticationError, RealtimeError } from './error.js';
import type {
  RealtimeClose,
  RealtimeConnection,
  RealtimeConnectOptions,
  RealtimeDisconnect,
  WebSocketConstructor,
} from './realtime.js';
import {
  envelope,
  type RealtimeServerScript,
  type RealtimeTestServer,
  ready,
  realtimeServer,
} from './test-utils/realtime-server.js';
import type { EventEnvelope } from './types.js';

// Both the DOM's WebSocket and the `ws` package's fit the option's type.
const _dom: WebSocketConstructor = globalThis.WebSocket as typeof globalThis.WebSocket;
const _ws: WebSocketConstructor = WebSocket;
void [_dom, _ws];

let server: RealtimeTestServer | undefined;
const conns: RealtimeConnection[] = [];

afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  await server?.close();
  server = undefined;
  vi.unstubAllGlobals();
});

async function serve(script: RealtimeServerScript = {}) {
  server = await realtimeServer(script);
  return server;
}

/** A connection with fast reconnects, through the `ws` package (Node 20 has no global WebSocket). */
function connect(s: RealtimeTestServer, options: RealtimeConnectOptions = {}) {
  const client = new AstrDesk({ baseURL: s.url, apiKey: 'adk_test', maxRetries: 0 });
  const conn = client.realtime.connect({
    WebSocket,
    minReconnectDelayMs: 5,
    maxReconnectDelayMs: 20,
    ...options,
  });
  conns.push(conn);
  return conn;
}

function next<K extends 'ready' | 'resync' | 'error' | 'disconnect' | 'close'>(
  conn: RealtimeConnection,
  type: K,
) {
  return new Promise<Parameters<Parameters<typeof conn.once<K>>[1]>[0]>((resolve) => {
    conn.once(type, resolve);
  });
}

/** Collects events until `n` have arrived. */
function collect(conn: RealtimeConnection, n: number): Promise<EventEnvelope[]> {
  const got: EventEnvelope[] = [];
  return new Promise((resolve) => {
    const off = conn.on('event', (e) => {
      got.push(e);
      if (got.length === n) {
        off();
        resolve(got);
      }
    });
  });
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('realtime connection', () => {
  it('authenticates with ?token=, emits ready and events by type, and is async-iterable', async () => {
    const s = await serve({
      onConnection: (sock) => {
        sock.send(ready(7));
        sock.sendEvents(8, 9);
        sock.send({ type: 'event', event: envelope(10, 'conversation.updated') });
      },
    });
    const conn = connect(s);
    expect(conn.state).toBe('connecting');
    const readyFrame = next(conn, 'ready');
    const typed: EventEnvelope[] = [];
    conn.on('conversation.updated', (e) => typed.push(e));
    const seen: number[] = [];
    for await (const e of conn) {
      seen.push(e.seq);
      if (e.seq === 10) break;
    }
    expect(seen).toEqual([8, 9, 10]);
    expect(await readyFrame).toEqual(ready(7));
    expect(typed.map((e) => e.seq)).toEqual([10]);
    expect(typed[0]!.data).toEqual({ n: 10 });
    expect(conn.state).toBe('open');
    expect(conn.lastSeq).toBe(10);
    expect(s.attempts).toEqual(['/v1/realtime?token=adk_test']);
  });

  it('reconnects after a drop with last_seq = the last seq received, dropping duplicates', async () => {
    const s = await serve({
      onConnection: (sock, i) => {
        if (i === 0) {
          sock.send(ready(0));
          sock.sendEvents(1, 2);
          setTimeout(() => sock.ws.terminate(), 20);
        } else {
          sock.send(ready(4));
          // The replay overlaps what the client already has: 2 must be dropped.
          sock.sendEvents(2, 3, 4);
        }
      },
    });
    const conn = connect(s);
    const disconnects: RealtimeDisconnect[] = [];
    conn.on('disconnect', (d) => disconnects.push(d));
    const events = await collect(conn, 4);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(s.attempts).toEqual([
      '/v1/realtime?token=adk_test',
      '/v1/realtime?token=adk_test&last_seq=2',
    ]);
    expect(disconnects).toHaveLength(1);
    expect(disconnects[0]).toMatchObject({ code: 1006, willReconnect: true });
    expect(disconnects[0]!.delayMs).toBeGreaterThanOrEqual(2);
    expect(disconnects[0]!.delayMs).toBeLessThanOrEqual(5);
    expect(conn.lastSeq).toBe(4);
  });

  it('backs off exponentially with jitter while connections keep dropping at once', async () => {
    const s = await serve({
      onConnection: (sock, i) => {
        sock.send(ready(0));
        if (i < 4) setTimeout(() => sock.ws.terminate(), 5);
      },
    });
    const conn = connect(s, { minReconnectDelayMs: 8, maxReconnectDelayMs: 40 });
    const delays: number[] = [];
    conn.on('disconnect', (d) => delays.push(d.delayMs!));
    await s.socket(4);
    expect(delays).toHaveLength(4);
    [8, 16, 32, 40].forEach((ceiling, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delays[i]).toBeLessThanOrEqual(ceiling);
    });
  });

  it('resumes from the log head of the first ready when no event arrived, and from lastSeq given', async () => {
    const s = await serve({
      onConnection: (sock, i) => {
        sock.send(ready(12));
        if (i === 0) setTimeout(() => sock.ws.close(1001, 'server shutting down'), 10);
      },
    });
    const conn = connect(s);
    await s.socket(1);
    expect(s.attempts[1]).toBe('/v1/realtime?token=adk_test&last_seq=12');
    conn.close();

    const resumed = connect(s, { lastSeq: 3 });
    await s.socket(2);
    expect(s.attempts[2]).toBe('/v1/realtime?token=adk_test&last_seq=3');
    await next(resumed, 'ready');
    expect(resumed.lastSeq).toBe(3);
  });

  it('surfaces resync_required and continues from its last_seq', async () => {
    const s = await serve({
      onConnection: (sock) => {
        sock.send(ready(5));
        // The client resumed from 40, past the log's head (e.g. a restored database).
        sock.send({ type: 'resync_required', reason: 'ahead_of_log', last_seq: 5 });
        sock.sendEvents(6);
      },
    });
    const conn = connect(s, { lastSeq: 40 });
    const resync = next(conn, 'resync');
    const events = collect(conn, 1);
    expect(await resync).toEqual({ type: 'resync_required', reason: 'ahead_of_log', last_seq: 5 });
    expect((await events).map((e) => e.seq)).toEqual([6]);
    expect(conn.lastSeq).toBe(6);
  });

  it('stops reconnecting on 4001 and reports an unauthorized error', async () => {
    const s = await serve({
      onConnection: (sock) => {
        sock.send(ready(0));
        sock.sendEvents(1);
        setTimeout(() => sock.ws.close(4001, 'credential no longer valid'), 10);
      },
    });
    const conn = connect(s);
    const error = next(conn, 'error');
    const closed = next(conn, 'close');
    const seen: number[] = [];
    const loop = (async () => {
      for await (const e of conn) seen.push(e.seq);
    })();
    const err = await error;
    expect(err).toBeInstanceOf(RealtimeError);
    expect(err).toMatchObject({ code: 'unauthorized', closeCode: 4001 });
    expect(((await closed) as RealtimeClose).error).toBe(err);
    await expect(loop).rejects.toBe(err);
    expect(seen).toEqual([1]);
    expect(conn.state).toBe('closed');
    expect(await conn.closed).toMatchObject({ code: 4001, error: err });
    await wait(60);
    expect(s.attempts).toHaveLength(1);
  });

  it('emits an error on 1008 and reconnects; reconnects after 4008 slow consumer', async () => {
    const s = await serve({
      onConnection: (sock, i) => {
        sock.send(ready(0));
        if (i === 0) setTimeout(() => sock.ws.close(1008, 'malformed JSON'), 10);
        if (i === 1) {
          sock.sendEvents(1);
          setTimeout(() => sock.ws.close(4008, 'slow consumer: reconnect with last_seq'), 10);
        }
      },
    });
    const conn = connect(s);
    const error = next(conn, 'error');
    expect(await error).toMatchObject({ code: 'policy_violation', closeCode: 1008 });
    await s.socket(2);
    expect(s.attempts[2]).toBe('/v1/realtime?token=adk_test&last_seq=1');
    expect(conn.state).not.toBe('closed');
  });

  it('asks GET /v1/me why a handshake is refused and stops on 401', async () => {
    const me: string[] = [];
    const s = await serve({
      refuse: () => 401,
      http: (req, res) => {
        me.push(`${req.method} ${req.url} ${req.headers.authorization}`);
        res.writeHead(401, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            error: {
              type: 'authentication_error',
              code: 'token_revoked',
              message: 'revoked',
              request_id: 'req_1',
            },
          }),
        );
      },
    });
    const conn = connect(s);
    const err = await next(conn, 'error');
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toMatchObject({ code: 'token_revoked' });
    expect(me).toEqual(['GET /v1/me Bearer adk_test']);
    await wait(60);
    expect(s.attempts).toHaveLength(1);
    expect(conn.state).toBe('closed');
  });

  it('refuses a credential without conversations:read, and keeps retrying other refusals', async () => {
    let scopes = ['tenant:read'];
    const s = await serve({
      refuse: (n) => (n < 3 ? 503 : undefined),
      http: (_req, res) =>
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ object: 'principal', kind: 'api_key', id: 'key_1', scopes })),
    });
    const denied = connect(s);
    expect(await next(denied, 'error')).toMatchObject({ code: 'insufficient_scope' });
    expect(s.attempts).toHaveLength(1);

    scopes = ['conversations:read'];
    const conn = connect(s);
    await next(conn, 'ready');
    // Attempts 1 and 2 were refused with 503; the third one opened.
    expect(s.attempts).toHaveLength(4);
    expect(conn.state).toBe('open');
  });

  it('sends ping keepalives and abandons a connection that answers nothing', async () => {
    const s = await serve({
      onConnection: (sock, i) => {
        sock.send(ready(0));
        // The second server answers pings; the first one goes silent.
        if (i > 0)
          sock.ws.on('message', (d) => {
            const f = JSON.parse(String(d)) as { type: string; ts?: number };
            if (f.type === 'ping') sock.send({ type: 'pong', ts: f.ts });
          });
      },
    });
    const conn = connect(s, { pingIntervalMs: 25 });
    const disconnect = next(conn, 'disconnect');
    expect(await disconnect).toMatchObject({ code: 4000, reason: 'keepalive timeout' });
    const first = await s.socket(0);
    expect(first.received[0]).toMatchObject({ type: 'ping', ts: expect.any(Number) });
    expect((await first.closed).code).toBe(4000);
    const second = await s.socket(1);
    await wait(120);
    expect(second.received.length).toBeGreaterThanOrEqual(3);
    expect(s.sockets).toHaveLength(2);
  });

  it('close() ends the connection, the iteration and the socket (1000); no reconnect follows', async () => {
    const s = await serve();
    const conn = connect(s);
    await next(conn, 'ready');
    const closed = next(conn, 'close');
    const loop = (async () => {
      const seen: EventEnvelope[] = [];
      for await (const e of conn) seen.push(e);
      return seen;
    })();
    conn.close();
    expect(await closed).toEqual({ code: 1000, reason: 'closed by client', error: undefined });
    expect(await loop).toEqual([]);
    expect((await s.sockets[0]!.closed).code).toBe(1000);
    await wait(40);
    expect(s.attempts).toHaveLength(1);
    expect(conn.state).toBe('closed');
  });

  it('closes when its signal aborts, and with reconnect: false on the first drop', async () => {
    const s = await serve({
      onConnection: (sock, i) => {
        sock.send(ready(0));
        if (i === 1) setTimeout(() => sock.ws.terminate(), 10);
      },
    });
    const controller = new AbortController();
    const conn = connect(s, { signal: controller.signal });
    await next(conn, 'ready');
    controller.abort();
    expect(conn.state).toBe('closed');

    const once = connect(s, { reconnect: false });
    const d = await next(once, 'disconnect');
    expect(d).toMatchObject({ willReconnect: false });
    expect((await once.closed).code).toBe(1006);
    expect(s.attempts).toHaveLength(2);
  });

  it('builds ws:// and wss:// URLs from baseURL and needs a WebSocket and a credential', () => {
    const https = new AstrDesk({ baseURL: 'https://desk.example.com/api/', apiKey: 'k' });
    expect(https.realtime.url().href).toBe('wss://desk.example.com/api/v1/realtime');
    const http = new AstrDesk({ baseURL: 'http://127.0.0.1:8080', apiKey: 'k' });
    expect(http.realtime.url().href).toBe('ws://127.0.0.1:8080/v1/realtime');
    const relative = new AstrDesk({ baseURL: '/astrdesk', apiKey: 'k' });
    expect(() => relative.realtime.url()).toThrow(AstrDeskError);
    vi.stubGlobal('location', { href: 'https://app.example.com/inbox' });
    expect(relative.realtime.url().href).toBe('wss://app.example.com/astrdesk/v1/realtime');

    vi.stubGlobal('WebSocket', undefined);
    expect(() => http.realtime.connect()).toThrow(/WebSocket/);
    const anonymous = new AstrDesk({ baseURL: 'http://x', apiKey: null });
    expect(() => anonymous.realtime.connect({ WebSocket })).toThrow(/credential/);
    expect(() => http.realtime.connect({ WebSocket, lastSeq: -1 })).toThrow(/lastSeq/);
  });

  it('uses the global WebSocket when there is one, and the token option over the apiKey', async () => {
    const s = await serve();
    vi.stubGlobal('WebSocket', WebSocket);
    const client = new AstrDesk({ baseURL: s.url, apiKey: 'adk_test' });
    const conn = client.realtime.connect({ token: 'ads_session' });
    conns.push(conn);
    await next(conn, 'ready');
    expect(s.attempts).toEqual(['/v1/realtime?token=ads_session']);
  });

  it('keeps running when a listener throws, reporting the error (reportError)', async () => {
    const s = await serve({
      onConnection: (sock) => {
        sock.send(ready(0));
        sock.sendEvents(1, 2);
      },
    });
    const reported: unknown[] = [];
    vi.stubGlobal('reportError', (err: unknown) => reported.push(err));
    const conn = connect(s);
    conn.on('event', (e) => {
      if (e.seq === 1) throw new Error('listener bug');
    });
    const events = await collect(conn, 2);
    expect(events.map((e) => e.seq)).toEqual([1, 2]);
    expect(reported).toHaveLength(1);
    expect((reported[0] as Error).message).toBe('listener bug');
  });
});

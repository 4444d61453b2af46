/**
 * A scripted `GET /v1/realtime` on 127.0.0.1 (a real `ws` WebSocketServer) that records every
 * connection: the URL it came with, the frames the client sent and how it closed. Plain HTTP
 * requests (the client's `GET /v1/me` credential check) go to `http`. Test-only (Node).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

export interface ServerSocket {
  /** Path and query the client connected with, e.g. `/v1/realtime?token=adk_test&last_seq=3`. */
  url: string;
  ws: WebSocket;
  /** Parsed frames the client sent. */
  received: unknown[];
  /** Sends a JSON frame. */
  send(frame: unknown): void;
  /** Sends `{ type: 'event', event }` for each seq, with a `message.created` envelope. */
  sendEvents(...seqs: number[]): void;
  /** Resolves when the socket is closed, with the code the server saw. */
  closed: Promise<{ code: number; reason: string }>;
}

export interface RealtimeTestServer {
  /** `http://127.0.0.1:<port>`: the client's baseURL. */
  url: string;
  sockets: ServerSocket[];
  /** Upgrade requests received, including refused ones. */
  attempts: string[];
  /** Resolves with the n-th socket (0-based) once it is connected. */
  socket(n: number): Promise<ServerSocket>;
  close(): Promise<void>;
}

export interface RealtimeServerScript {
  /** Runs for each accepted socket (0-based index). Default: send `ready` with last_seq 0. */
  onConnection?: (socket: ServerSocket, index: number) => void;
  /** An HTTP status to refuse the n-th upgrade with (no WebSocket is opened), or undefined. */
  refuse?: (attempt: number, url: string) => number | undefined;
  /** Answers plain HTTP requests (default 404). */
  http?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

export function envelope(seq: number, type = 'message.created') {
  return {
    seq,
    id: `evt_${seq}`,
    type,
    data: { n: seq },
    created_at: '2026-01-01T00:00:00.000Z',
  };
}

export async function realtimeServer(
  script: RealtimeServerScript = {},
): Promise<RealtimeTestServer> {
  const sockets: ServerSocket[] = [];
  const attempts: string[] = [];
  const waiters = new Map<number, ((s: ServerSocket) => void)[]>();
  const server = http.createServer((req, res) => {
    if (script.http) script.http(req, res);
    else res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = req.url ?? '';
    const attempt = attempts.length;
    attempts.push(url);
    const status = script.refuse?.(attempt, url);
    if (status !== undefined) {
      const body = JSON.stringify({ error: { code: 'refused', message: 'refused' } });
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const received: unknown[] = [];
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      });
      ws.on('message', (data) => {
        try {
          received.push(JSON.parse(String(data)));
        } catch {
          received.push(String(data));
        }
      });
      const s: ServerSocket = {
        url,
        ws,
        received,
        closed,
        send: (frame) => ws.send(JSON.stringify(frame)),
        sendEvents: (...seqs) => {
          for (const seq of seqs) ws.send(JSON.stringify({ type: 'event', event: envelope(seq) }));
        },
      };
      const index = sockets.length;
      sockets.push(s);
      (
        script.onConnection ??
        ((sock) =>
          sock.send({ type: 'ready', last_seq: 0, principal: { kind: 'api_key', id: 'key_1' } }))
      )(s, index);
      for (const w of waiters.get(index) ?? []) w(s);
      waiters.delete(index);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sockets,
    attempts,
    socket(n) {
      const s = sockets[n];
      if (s) return Promise.resolve(s);
      return new Promise((resolve) => {
        const list = waiters.get(n) ?? [];
        list.push(resolve);
        waiters.set(n, list);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function ready(lastSeq: number) {
  return { type: 'ready', last_seq: lastSeq, principal: { kind: 'api_key', id: 'key_1' } };
}

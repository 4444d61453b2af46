/** A real HTTP receiver on 127.0.0.1 for webhook tests (not imported by the server). */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
}

export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  received: Received[];
  /** Replies for the next requests, in order; afterwards `fallback`. */
  replies: Reply[];
  fallback: Reply;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const state = { replies: [] as Reply[], fallback: { status: 200 } as Reply };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const reply = state.replies.shift() ?? state.fallback;
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    get replies() {
      return state.replies;
    },
    set replies(v) {
      state.replies = v;
    },
    get fallback() {
      return state.fallback;
    },
    set fallback(v) {
      state.fallback = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

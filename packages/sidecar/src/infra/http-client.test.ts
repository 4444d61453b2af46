import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeHttpPost } from './http-client.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(
  handler: http.RequestListener,
): Promise<{ url: URL; connections: () => number }> {
  let connections = 0;
  const s = http.createServer(handler);
  s.on('connection', () => connections++);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}/v1/sidecar/events`),
    connections: () => connections,
  };
}

const never = new AbortController().signal;

describe('nodeHttpPost', () => {
  it('posts the bytes with the headers and returns status and body, over one kept-alive connection', async () => {
    const seen: {
      method: string | undefined;
      url: string | undefined;
      headers: http.IncomingHttpHeaders;
      body: string;
    }[] = [];
    const { url, connections } = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(207, { 'content-type': 'application/json' });
        res.end('{"accepted":1,"note":"已收到"}');
      });
    });
    const post = nodeHttpPost();
    const body = Buffer.from('{"events":[{"text":"我想申请退款"}]}');
    for (let i = 0; i < 3; i++) {
      const r = await post(url, {
        headers: { authorization: 'Bearer t' },
        body,
        signal: never,
        timeoutMs: 5000,
      });
      expect(r).toEqual({ status: 207, text: '{"accepted":1,"note":"已收到"}' });
    }
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/v1/sidecar/events',
      body: body.toString(),
      headers: { authorization: 'Bearer t', 'content-length': String(body.length) },
    });
    expect(connections()).toBe(1);
  });

  it('rejects with the socket error code when nothing listens', async () => {
    const { url } = await serve(() => {});
    const closed = servers.pop()!;
    await new Promise((r) => closed.close(r));
    await expect(
      nodeHttpPost()(url, { headers: {}, body: Buffer.from('{}'), signal: never, timeoutMs: 5000 }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('aborts while the answer is awaited (after the body was sent)', async () => {
    let bodyReceived = false;
    const { url } = await serve((req) => {
      req.resume();
      req.on('end', () => {
        bodyReceived = true; // and never answer
      });
    });
    const ac = new AbortController();
    const pending = nodeHttpPost()(url, {
      headers: {},
      body: Buffer.from('{"events":[]}'),
      signal: ac.signal,
      timeoutMs: 60_000,
    });
    for (let i = 0; i < 500 && !bodyReceived; i++) await new Promise((r) => setTimeout(r, 10));
    expect(bodyReceived).toBe(true);
    ac.abort(new Error('closing'));
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('retries once on a new socket when a kept-alive one is reset before any answer', async () => {
    const perSocket = new Map<unknown, number>();
    let requests = 0;
    const { url, connections } = await serve((req, res) => {
      requests++;
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      // The second request on a socket: as if the server had just closed it as idle.
      if (n === 2) return req.socket.resetAndDestroy();
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const post = nodeHttpPost();
    const init = { headers: {}, body: Buffer.from('{}'), signal: never, timeoutMs: 5000 };
    expect(await post(url, init)).toEqual({ status: 200, text: 'ok' });
    expect(await post(url, init)).toEqual({ status: 200, text: 'ok' });
    expect(requests).toBe(3);
    expect(connections()).toBe(2);
    post.close?.();
  });

  it('times out a server that never answers, and aborts with the signal', async () => {
    const { url } = await serve(() => {}); // reads nothing, answers nothing
    const body = Buffer.from('{}');
    await expect(
      nodeHttpPost()(url, { headers: {}, body, signal: never, timeoutMs: 50 }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    const ac = new AbortController();
    const pending = nodeHttpPost()(url, {
      headers: {},
      body,
      signal: ac.signal,
      timeoutMs: 60_000,
    });
    ac.abort(new Error('closing'));
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});

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

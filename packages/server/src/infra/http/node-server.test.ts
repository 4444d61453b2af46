import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../../test-utils/index.js';

// The request path reads and writes headers straight on Node's request and response when it
// runs on @hono/node-server (see context.ts); `app.request()` takes the other branch. These
// tests go over a real socket so the Node branch is the one exercised.
let t: TestServer;
let server: ServerType;
let base: string;
let apiKey: string;

beforeAll(async () => {
  t = await createTestServer({ BODY_LIMIT_BYTES: '4096', CORS_ORIGINS: 'https://crm.example' });
  const owner = await t.tenant('NodeCo');
  const k = await t.call('POST', '/v1/api-keys', {
    token: owner.token,
    body: { name: 'node', scopes: ['tenant:read'] },
  });
  apiKey = k.body.secret;
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: t.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await t?.close();
});

describe('the request path over a real socket', () => {
  it('answers with a request id, echoes a valid incoming one, and logs the route', async () => {
    const r = await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(r.headers.get('x-request-id')).toMatch(/^req_/);
    expect(await r.json()).toMatchObject({ kind: 'api_key', tenant_id: expect.any(String) });

    const echoed = await fetch(`${base}/v1/me`, {
      headers: { authorization: `Bearer ${apiKey}`, 'x-request-id': 'trace-123' },
    });
    expect(echoed.headers.get('x-request-id')).toBe('trace-123');
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.request_id === 'trace-123');
    expect(line).toMatchObject({ route: '/v1/me', status: 200, method: 'GET' });
    expect(JSON.stringify(t.logs)).not.toContain(apiKey);
  });

  it('errors carry the same request id in the header and the envelope', async () => {
    const r = await fetch(`${base}/v1/me`, { headers: { authorization: 'Bearer adk_nope' } });
    expect(r.status).toBe(401);
    const body = (await r.json()) as { error: { code: string; request_id: string } };
    expect(body.error.code).toBe('invalid_token');
    expect(body.error.request_id).toBe(r.headers.get('x-request-id'));

    const big = await fetch(`${base}/v1/tenant`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ company_name: 'x'.repeat(8000) }),
    });
    expect(big.status).toBe(413);
    const env = (await big.json()) as { error: { code: string; request_id: string } };
    expect(env.error.code).toBe('payload_too_large');
    expect(env.error.request_id).toBe(big.headers.get('x-request-id'));
  });

  it('CORS: allowed origins get the headers, others do not, preflights answer 204', async () => {
    const ok = await fetch(`${base}/v1/me`, {
      headers: { authorization: `Bearer ${apiKey}`, origin: 'https://crm.example' },
    });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://crm.example');
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-request-id');
    expect(ok.headers.get('vary')).toBe('Origin');

    const other = await fetch(`${base}/v1/me`, {
      headers: { authorization: `Bearer ${apiKey}`, origin: 'https://evil.example' },
    });
    expect(other.status).toBe(200);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const pre = await fetch(`${base}/v1/me`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://crm.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://crm.example');
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(pre.headers.get('x-request-id')).toMatch(/^req_/);
  });
});

describe('request ids and the request logger', () => {
  it('gives every request its own id, and a handler’s log lines carry it', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${apiKey}` } });
      ids.add(r.headers.get('x-request-id') ?? '');
    }
    expect(ids.size).toBe(5);

    // Revoking logs through the request's logger ('api key revoked').
    const owner = await t.tenant('LogCo');
    const k = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'to revoke', scopes: ['tenant:read'] },
    });
    const r = await fetch(`${base}/v1/api-keys/${k.body.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(r.status).toBe(200);
    const requestId = r.headers.get('x-request-id');
    const lines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.request_id === requestId);
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['api key revoked', 'request']));
  });
});

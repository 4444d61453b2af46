import { ErrorEnvelope } from '@astrdesk/protocol';
import { HTTPException } from 'hono/http-exception';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../../test-utils/index.js';
import { ApiError, toApiError } from './errors.js';

let t: TestServer;
let owner: Awaited<ReturnType<TestServer['tenant']>>;
beforeAll(async () => {
  t = await createTestServer({ BODY_LIMIT_BYTES: '4096' });
  owner = await t.tenant('HttpCo');
});
afterAll(async () => {
  await t?.close();
});

function expectEnvelope(
  r: { status: number; body: unknown; headers: Headers },
  status: number,
  code: string,
) {
  expect(r.status).toBe(status);
  const parsed = ErrorEnvelope.safeParse(r.body);
  expect(parsed.success, JSON.stringify(r.body)).toBe(true);
  const env = parsed.data!;
  expect(env.error.code).toBe(code);
  expect(env.error.request_id).toBe(r.headers.get('x-request-id'));
  return env.error;
}

describe('bad input gets the error envelope, never a 500', () => {
  it('malformed JSON', async () => {
    const r = await t.call('POST', '/v1/members', {
      token: owner.token,
      rawBody: '{"email": "a@b.example", ',
    });
    expectEnvelope(r, 400, 'invalid_json');
  });

  it('wrong types name the field', async () => {
    const r = await t.call('POST', '/v1/members', {
      token: owner.token,
      body: { email: 42, name: ['x'] },
    });
    const e = expectEnvelope(r, 400, 'validation_failed');
    expect(e.param).toBe('email');
    expect((e.details as { issues: unknown[] }).issues.length).toBe(2);
  });

  it('unknown fields where the schema is strict', async () => {
    const r = await t.call('PATCH', '/v1/tenant', {
      token: owner.token,
      body: { company_name: 'x', tenant_id: 'tnt_other' },
    });
    const e = expectEnvelope(r, 400, 'validation_failed');
    expect(e.param).toBe('tenant_id');
    expect(e.message).toMatch(/Unknown field/);
  });

  it('a JSON body that is not an object', async () => {
    expectEnvelope(
      await t.call('PATCH', '/v1/tenant', { token: owner.token, rawBody: '[1,2]' }),
      400,
      'validation_failed',
    );
    expectEnvelope(
      await t.call('PATCH', '/v1/tenant', { token: owner.token, rawBody: 'null' }),
      400,
      'validation_failed',
    );
  });

  it('oversized body answers 413', async () => {
    const r = await t.call('PATCH', '/v1/tenant', {
      token: owner.token,
      body: { company_name: 'x'.repeat(10_000) },
    });
    expectEnvelope(r, 413, 'payload_too_large');
  });

  it('wrong content type answers 415', async () => {
    const r = await t.call('PATCH', '/v1/tenant', {
      token: owner.token,
      rawBody: 'company_name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectEnvelope(r, 415, 'unsupported_media_type');
  });

  it('bad cursors answer 400 invalid_cursor', async () => {
    for (const cursor of [
      'garbage!!',
      Buffer.from('{"id":5}').toString('base64url'),
      Buffer.from('[]').toString('base64url'),
    ]) {
      const r = await t.call('GET', `/v1/members?cursor=${encodeURIComponent(cursor)}`, {
        token: owner.token,
      });
      expect(expectEnvelope(r, 400, 'invalid_cursor').param).toBe('cursor');
    }
  });

  it('bad query values name the parameter', async () => {
    const r = await t.call('GET', '/v1/members?limit=1000', { token: owner.token });
    expect(expectEnvelope(r, 400, 'validation_failed').param).toBe('limit');
  });

  it('unknown routes answer 404 route_not_found', async () => {
    expectEnvelope(await t.call('GET', '/v1/nope'), 404, 'route_not_found');
    expectEnvelope(
      await t.call('GET', '/v1/tenant/nope', { token: owner.token }),
      404,
      'route_not_found',
    );
  });

  it('unexpected errors become a bare 500 envelope', () => {
    const e = toApiError(new Error('db password is hunter2'));
    expect(e).toMatchObject({
      code: 'internal_error',
      status: 500,
      message: 'Internal server error',
    });
    expect(
      toApiError(new HTTPException(400, { message: 'Malformed JSON in request body' })).code,
    ).toBe('invalid_json');
    expect(toApiError(new ApiError('not_found', 'x')).status).toBe(404);
  });
});

describe('request ids', () => {
  it('every response carries x-request-id; a sane incoming one is kept', async () => {
    const own = await t.call('GET', '/healthz', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(own.headers.get('x-request-id')).toBe('trace-abc.123');
    const fresh = await t.call('GET', '/healthz', {
      headers: { 'x-request-id': 'bad id with spaces' },
    });
    expect(fresh.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('logs one JSON line per request with request id, tenant, route, status and ms', async () => {
    const r = await t.call('GET', '/v1/members', {
      token: owner.token,
      headers: { 'x-request-id': 'log-check-1' },
    });
    expect(r.status).toBe(200);
    const line = t.logs
      .map((l) => JSON.parse(l))
      .find((l) => l.request_id === 'log-check-1' && l.msg === 'request');
    expect(line).toMatchObject({
      tenant_id: owner.tenantId,
      method: 'GET',
      route: '/v1/members',
      status: 200,
    });
    expect(typeof line.ms).toBe('number');
  });
});

describe('Idempotency-Key', () => {
  it('replays the first response for the same key and request', async () => {
    const body = { name: 'idem', scopes: ['tenant:read'] };
    const headers = { 'idempotency-key': 'key-create-1' };
    const first = await t.call('POST', '/v1/api-keys', { token: owner.token, body, headers });
    const second = await t.call('POST', '/v1/api-keys', { token: owner.token, body, headers });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const list = await t.call('GET', '/v1/api-keys', { token: owner.token });
    expect(list.body.data.filter((k: { name: string }) => k.name === 'idem')).toHaveLength(1);
  });

  it('refuses the same key with a different request (422)', async () => {
    const headers = { 'idempotency-key': 'key-create-2' };
    await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'a', scopes: ['tenant:read'] },
      headers,
    });
    const r = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'b', scopes: ['tenant:read'] },
      headers,
    });
    expectEnvelope(r, 422, 'idempotency_key_mismatch');
  });

  it('keys are per credential, and expire after 24 h', async () => {
    const other = await t.tenant('IdemOther');
    const headers = { 'idempotency-key': 'shared-key' };
    const a = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'x', scopes: ['tenant:read'] },
      headers,
    });
    const b = await t.call('POST', '/v1/api-keys', {
      token: other.token,
      body: { name: 'x', scopes: ['tenant:read'] },
      headers,
    });
    expect(b.body.id).not.toBe(a.body.id);
    // Within 24 h a different body under the same key is refused; after 24 h the key is free again.
    const early = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'y', scopes: ['tenant:read'] },
      headers,
    });
    expect(early.status).toBe(422);
    t.advance(24 * 60 * 60 * 1000 + 1000);
    const later = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'y', scopes: ['tenant:read'] },
      headers,
    });
    expect(later.status).toBe(201);
    expect(later.body.name).toBe('y');
  });
});

describe('secrets stay out of logs and responses', () => {
  it('no password, API key secret, session or operator token appears in any log line', async () => {
    const password = 'very-secret-password-4711';
    const s = await t.call('POST', '/v1/signup', {
      body: {
        company_name: 'Leak Co',
        contact_name: 'L',
        contact_email: 'leak@leak.example',
        owner_password: password,
      },
    });
    await t.call('POST', `/v1/admin/tenants/${s.body.tenant.id}/approve`, {
      token: t.operatorToken,
      body: {},
    });
    const login = await t.call('POST', '/v1/auth/login', {
      body: { email: 'leak@leak.example', password },
    });
    const session: string = login.body.token;
    const key = await t.call('POST', '/v1/api-keys', {
      token: session,
      body: { name: 'leaky', scopes: ['tenant:read'] },
    });
    const secret: string = key.body.secret;
    await t.call('GET', '/v1/tenant', { token: secret });
    await t.call('GET', '/v1/tenant', { token: `${secret}x` });
    await t.call('POST', '/v1/auth/login', {
      body: { email: 'leak@leak.example', password: `${password}-wrong` },
    });
    const all = t.logs.join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).toContain(key.body.id); // the key is referred to by id...
    for (const s of [
      password,
      secret,
      secret.slice(4),
      session,
      session.slice(4),
      t.operatorToken,
    ]) {
      expect(all).not.toContain(s); // ...never by its secret
    }
  });
});

describe('health and docs', () => {
  it('/healthz and /readyz', async () => {
    expect((await t.call('GET', '/healthz')).body).toMatchObject({ status: 'ok' });
    const ready = await t.call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.checks.database.ok).toBe(true);
    expect(ready.body.checks.migrations.ok).toBe(true);
  });

  it('/openapi.json documents every route with its auth, from the zod schemas', async () => {
    const doc = (await t.call('GET', '/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    const routes = t.app.routes.filter((r) => r.method !== 'ALL' && r.path.startsWith('/v1/'));
    expect(routes.length).toBeGreaterThan(15);
    for (const r of routes) {
      const op = doc.paths[r.path.replace(/:([A-Za-z_]+)/g, '{$1}')]?.[r.method.toLowerCase()];
      expect(op, `${r.method} ${r.path}`).toBeDefined();
      expect(op['x-astrdesk-auth'], `${r.method} ${r.path}`).toBeTruthy();
    }
    expect(doc.components.schemas.SignupRequest.properties.contact_email).toBeDefined();
    expect(doc.components.schemas.ErrorEnvelope).toBeDefined();
  });

  it('/docs renders a self-contained reference page', async () => {
    const res = await t.app.request('/docs');
    const html = await res.text();
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(html).toContain('/v1/api-keys/{id}/usage');
    expect(html).not.toMatch(/<script[^>]+src=/);
  });
});

describe('HTTP niceties', () => {
  it('answers 405 with Allow for a known path under the wrong method', async () => {
    const r = await t.call('PUT', '/v1/members', { token: owner.token, body: {} });
    expectEnvelope(r, 405, 'method_not_allowed');
    expect(r.headers.get('allow')).toContain('GET');
    expect(r.headers.get('allow')).toContain('POST');
  });

  it('answers CORS preflights so browsers can use bearer tokens', async () => {
    const res = await t.app.request('/v1/me', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://crm.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  it('limits login attempts per email', async () => {
    // A fresh address per run: with REDIS_URL the buckets live in Redis, shared by every run.
    const body = {
      email: `brute-${Date.now()}-${Math.random().toString(36).slice(2)}@force.example`,
      password: 'not-the-password',
    };
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await t.call('POST', '/v1/auth/login', { body })).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
  });
});

describe('stored idempotent answers', () => {
  it('are encrypted at rest, so a secret shown once is not readable from the table', async () => {
    const r = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'stored', scopes: ['tenant:read'] },
      headers: { 'idempotency-key': 'enc-check-1' },
    });
    expect(r.status).toBe(201);
    const rows = await t.services.db
      .selectFrom('idempotency_keys')
      .select('response_body')
      .where('key', '=', 'enc-check-1')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.response_body).not.toContain(r.body.secret);
    expect(rows[0]!.response_body).not.toContain('stored');
    const replay = await t.call('POST', '/v1/api-keys', {
      token: owner.token,
      body: { name: 'stored', scopes: ['tenant:read'] },
      headers: { 'idempotency-key': 'enc-check-1' },
    });
    expect(replay.body.secret).toBe(r.body.secret);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(async () => {
  await t?.close();
});

describe('API keys', () => {
  it('shows the secret once; lists show prefix and last 4 only', async () => {
    const a = await t.tenant('KeyCo');
    const k = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'CRM', scopes: ['conversations:read', 'tenant:read'] },
    });
    expect(k.status).toBe(201);
    const secret: string = k.body.secret;
    expect(secret).toMatch(/^adk_[A-Za-z0-9_-]{43}$/);
    expect(k.body).toMatchObject({
      prefix: secret.slice(0, 12),
      last4: secret.slice(-4),
      scopes: ['conversations:read', 'tenant:read'],
      created_by: a.ownerId,
    });
    const list = await t.call('GET', '/v1/api-keys', { token: a.token });
    expect(list.body.data).toHaveLength(1);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.data[0]).not.toHaveProperty('secret');
    const one = await t.call('GET', `/v1/api-keys/${k.body.id}`, { token: a.token });
    expect(JSON.stringify(one.body)).not.toContain(secret);
  });

  it('a revoked key gets 401 token_revoked; an expired key 401 token_expired', async () => {
    const a = await t.tenant('RevokeCo');
    const k = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'k', scopes: ['tenant:read'] },
    });
    expect((await t.call('GET', '/v1/tenant', { token: k.body.secret })).status).toBe(200);
    const del = await t.call('DELETE', `/v1/api-keys/${k.body.id}`, { token: a.token });
    expect(del.status).toBe(200);
    expect(del.body.revoked_at).not.toBeNull();
    const after = await t.call('GET', '/v1/tenant', { token: k.body.secret });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('token_revoked');

    const exp = new Date(t.services.now() + 60_000).toISOString();
    const e = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'e', scopes: ['tenant:read'], expires_at: exp },
    });
    expect((await t.call('GET', '/v1/tenant', { token: e.body.secret })).status).toBe(200);
    t.advance(61_000);
    const expired = await t.call('GET', '/v1/tenant', { token: e.body.secret });
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('token_expired');
  });

  it('a key without the scope gets 403 insufficient_scope', async () => {
    const a = await t.tenant('ScopeCo');
    const k = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'ro', scopes: ['tenant:read'] },
    });
    const r = await t.call('POST', '/v1/members', {
      token: k.body.secret,
      body: { email: 'x@scope.example', name: 'x' },
    });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({
      code: 'insufficient_scope',
      details: { required_scope: 'members:write' },
    });
    expect((await t.call('GET', '/v1/api-keys', { token: k.body.secret })).body.error.code).toBe(
      'insufficient_scope',
    );
  });

  it('a credential cannot mint a key with scopes it lacks', async () => {
    const a = await t.tenant('EscalateCo');
    const k = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'minter', scopes: ['api_keys:write'] },
    });
    const r = await t.call('POST', '/v1/api-keys', {
      token: k.body.secret,
      body: { name: 'x', scopes: ['api_keys:write', 'members:write'] },
    });
    expect(r.status).toBe(403);
    expect(r.body.error).toMatchObject({
      code: 'insufficient_scope',
      param: 'scopes',
      details: { missing: ['members:write'] },
    });
    const ok = await t.call('POST', '/v1/api-keys', {
      token: k.body.secret,
      body: { name: 'y', scopes: ['api_keys:write'] },
    });
    expect(ok.status).toBe(201);
  });

  it('rejects unknown scopes, past expiry and empty scope lists', async () => {
    const a = await t.tenant('BadKeyCo');
    const unknown = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'x', scopes: ['root'] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.param).toBe('scopes.0');
    const past = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'x', scopes: ['tenant:read'], expires_at: '2001-01-01T00:00:00Z' },
    });
    expect(past.status).toBe(400);
    expect(past.body.error.param).toBe('expires_at');
    expect(
      (await t.call('POST', '/v1/api-keys', { token: a.token, body: { name: 'x', scopes: [] } }))
        .status,
    ).toBe(400);
  });

  it('records calls per minute and the last use', async () => {
    const a = await t.tenant('UsageCo');
    const k = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'u', scopes: ['tenant:read', 'api_keys:read'] },
    });
    for (let i = 0; i < 5; i++) await t.call('GET', '/v1/tenant', { token: k.body.secret });
    const u = await t.call(
      'GET',
      `/v1/api-keys/${k.body.id}/usage?granularity=minute&from=${new Date(t.services.now() - 5 * 60_000).toISOString()}`,
      { token: a.token },
    );
    expect(u.status).toBe(200);
    expect(u.body.total).toBe(5);
    expect(u.body.buckets.reduce((s: number, b: { count: number }) => s + b.count, 0)).toBe(5);
    expect(u.body.buckets.length).toBeGreaterThanOrEqual(5);
    expect(u.body.last_used_at).not.toBeNull();
    const day = await t.call('GET', `/v1/api-keys/${k.body.id}/usage?granularity=day`, {
      token: a.token,
    });
    expect(day.body.total).toBe(5);
    const tooMany = await t.call(
      'GET',
      `/v1/api-keys/${k.body.id}/usage?granularity=minute&from=2020-01-01T00:00:00Z`,
      { token: a.token },
    );
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.param).toBe('granularity');
  });

  it('rate-limits each key with a token bucket: 429 with Retry-After, other keys unaffected', async () => {
    const a = await t.tenant('LimitCo');
    const k = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'slow', scopes: ['tenant:read'], rate_limit_per_minute: 3 },
    });
    const other = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'fast', scopes: ['tenant:read'] },
    });
    const statuses: number[] = [];
    let limited: { body: any; headers: Headers } | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await t.call('GET', '/v1/tenant', { token: k.body.secret });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(limited!.body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await t.call('GET', '/v1/tenant', { token: other.body.secret })).status).toBe(200);
    t.advance(21_000); // 3/min refills one token every 20 s
    expect((await t.call('GET', '/v1/tenant', { token: k.body.secret })).status).toBe(200);
  });
});

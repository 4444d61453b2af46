import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({ SESSION_TTL_HOURS: '1' });
});
afterAll(async () => {
  await t?.close();
});
const password = 'correct-horse-battery';

describe('login and sessions', () => {
  it('refuses a wrong password and an unknown email alike', async () => {
    const a = await t.tenant('LoginCo');
    const wrong = await t.call('POST', '/v1/auth/login', {
      body: { email: a.email, password: 'wrong-password!' },
    });
    const unknown = await t.call('POST', '/v1/auth/login', {
      body: { email: 'nobody@nowhere.example', password },
    });
    for (const r of [wrong, unknown]) {
      expect(r.status).toBe(401);
      expect(r.body.error).toMatchObject({
        code: 'invalid_credentials',
        message: 'Wrong email or password',
      });
    }
  });

  it('accepts the email in any case', async () => {
    const a = await t.tenant('CaseCo');
    const r = await t.call('POST', '/v1/auth/login', {
      body: { email: a.email.toUpperCase(), password },
    });
    expect(r.status).toBe(200);
  });

  it('logout revokes the session (401 token_revoked), other sessions live on', async () => {
    const a = await t.tenant('LogoutCo');
    const other = await t.call('POST', '/v1/auth/login', { body: { email: a.email, password } });
    expect((await t.call('POST', '/v1/auth/logout', { token: a.token })).status).toBe(204);
    const after = await t.call('GET', '/v1/me', { token: a.token });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('token_revoked');
    expect((await t.call('GET', '/v1/me', { token: other.body.token })).status).toBe(200);
  });

  it('sessions expire after SESSION_TTL_HOURS', async () => {
    const a = await t.tenant('ExpiryCo');
    expect((await t.call('GET', '/v1/me', { token: a.token })).status).toBe(200);
    t.advance(60 * 60 * 1000 + 1);
    const r = await t.call('GET', '/v1/me', { token: a.token });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('token_expired');
  });

  it('answers 401 for missing, malformed and unknown tokens', async () => {
    expect((await t.call('GET', '/v1/me')).body.error.code).toBe('unauthenticated');
    expect(
      (await t.call('GET', '/v1/me', { headers: { authorization: 'Basic abc' } })).body.error.code,
    ).toBe('unauthenticated');
    expect((await t.call('GET', '/v1/me', { token: 'ads_doesnotexist' })).body.error.code).toBe(
      'invalid_token',
    );
    expect((await t.call('GET', '/v1/me', { token: 'adk_doesnotexist' })).body.error.code).toBe(
      'invalid_token',
    );
    expect((await t.call('GET', '/v1/me', { token: 'whatever' })).status).toBe(401);
  });

  it('/v1/me describes each kind of principal', async () => {
    const a = await t.tenant('MeCo');
    const member = await t.call('GET', '/v1/me', { token: a.token });
    expect(member.body).toMatchObject({
      kind: 'member',
      id: a.ownerId,
      tenant_id: a.tenantId,
      member: { role: 'owner' },
      api_key: null,
    });
    const key = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'crm', scopes: ['tenant:read'] },
    });
    const viaKey = await t.call('GET', '/v1/me', { token: key.body.secret });
    expect(viaKey.body).toMatchObject({
      kind: 'api_key',
      id: key.body.id,
      tenant_id: a.tenantId,
      scopes: ['tenant:read'],
      member: null,
    });
    expect(viaKey.body.api_key).toEqual({ id: key.body.id, name: 'crm', prefix: key.body.prefix });
    const op = await t.call('GET', '/v1/me', { token: t.operatorToken });
    expect(op.body).toMatchObject({ kind: 'operator', tenant_id: null });
  });
});

describe('invites', () => {
  it('an invited member sets a password with the one-time token, which then stops working', async () => {
    const a = await t.tenant('InviteCo');
    const inv = await t.call('POST', '/v1/members', {
      token: a.token,
      body: { email: 'new@invite.example', name: 'New Agent' },
    });
    expect(inv.status).toBe(201);
    expect(inv.body).toMatchObject({ role: 'agent', invite_pending: true });
    expect(inv.body.invite_token).toMatch(/^adv_/);
    const early = await t.call('POST', '/v1/auth/login', {
      body: { email: 'new@invite.example', password },
    });
    expect(early.status).toBe(401);
    const acc = await t.call('POST', '/v1/auth/accept-invite', {
      body: { invite_token: inv.body.invite_token, password },
    });
    expect(acc.status).toBe(200);
    expect(acc.body.member).toMatchObject({ email: 'new@invite.example', invite_pending: false });
    const again = await t.call('POST', '/v1/auth/accept-invite', {
      body: { invite_token: inv.body.invite_token, password },
    });
    expect(again.status).toBe(401);
    expect(
      (await t.call('POST', '/v1/auth/login', { body: { email: 'new@invite.example', password } }))
        .status,
    ).toBe(200);
    const listed = await t.call('GET', `/v1/members/${inv.body.id}`, { token: a.token });
    expect(listed.body).not.toHaveProperty('invite_token');
  });

  it('an expired invite is refused', async () => {
    const a = await t.tenant('InviteExpiry');
    const inv = await t.call('POST', '/v1/members', {
      token: a.token,
      body: { email: 'late@invite.example', name: 'Late' },
    });
    t.advance(8 * 24 * 60 * 60 * 1000);
    const acc = await t.call('POST', '/v1/auth/accept-invite', {
      body: { invite_token: inv.body.invite_token, password },
    });
    expect(acc.status).toBe(401);
    expect(acc.body.error.param).toBe('invite_token');
  });
});

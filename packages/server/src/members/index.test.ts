import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(async () => {
  await t?.close();
});
const password = 'correct-horse-battery';

async function memberToken(ownerToken: string, email: string, role: 'admin' | 'agent') {
  const m = await t.call('POST', '/v1/members', {
    token: ownerToken,
    body: { email, name: email, role, password },
  });
  expect(m.status).toBe(201);
  const l = await t.call('POST', '/v1/auth/login', { body: { email, password } });
  return { id: m.body.id as string, token: l.body.token as string };
}

describe('members and roles', () => {
  it('owners create admins and agents; members are listed newest first with cursor pages', async () => {
    const a = await t.tenant('TeamCo');
    const admin = await memberToken(a.token, 'admin@team.example', 'admin');
    await memberToken(admin.token, 'agent1@team.example', 'agent');
    await memberToken(admin.token, 'agent2@team.example', 'agent');
    const p1 = await t.call('GET', '/v1/members?limit=2', { token: a.token });
    expect(p1.body.data.map((m: { email: string }) => m.email)).toEqual([
      'agent2@team.example',
      'agent1@team.example',
    ]);
    expect(p1.body.has_more).toBe(true);
    const p2 = await t.call('GET', `/v1/members?limit=2&cursor=${p1.body.next_cursor}`, {
      token: a.token,
    });
    expect(p2.body.data.map((m: { email: string }) => m.email)).toEqual([
      'admin@team.example',
      a.email,
    ]);
    expect(p2.body).toMatchObject({ has_more: false, next_cursor: null });
    expect(JSON.stringify(p2.body)).not.toMatch(/password|scrypt/);
  });

  it('agents cannot manage members; admins cannot create or change owners', async () => {
    const a = await t.tenant('RolesCo');
    const admin = await memberToken(a.token, 'admin@roles.example', 'admin');
    const agent = await memberToken(a.token, 'agent@roles.example', 'agent');
    const byAgent = await t.call('POST', '/v1/members', {
      token: agent.token,
      body: { email: 'x@roles.example', name: 'x' },
    });
    expect(byAgent.status).toBe(403);
    expect(byAgent.body.error).toMatchObject({
      code: 'insufficient_scope',
      details: { required_scope: 'members:write' },
    });
    expect((await t.call('GET', '/v1/members', { token: agent.token })).status).toBe(200);
    const ownerByAdmin = await t.call('POST', '/v1/members', {
      token: admin.token,
      body: { email: 'o@roles.example', name: 'o', role: 'owner' },
    });
    expect(ownerByAdmin.status).toBe(400); // owner is not an invitable role at all
    const promote = await t.call('PATCH', `/v1/members/${agent.id}`, {
      token: admin.token,
      body: { role: 'owner' },
    });
    expect(promote.status).toBe(403);
    const demoteOwner = await t.call('PATCH', `/v1/members/${a.ownerId}`, {
      token: admin.token,
      body: { role: 'agent' },
    });
    expect(demoteOwner.status).toBe(403);
    const promoteByOwner = await t.call('PATCH', `/v1/members/${agent.id}`, {
      token: a.token,
      body: { role: 'admin' },
    });
    expect(promoteByOwner.body.role).toBe('admin');
  });

  it('disabling a member revokes their sessions and blocks login', async () => {
    const a = await t.tenant('DisableCo');
    const agent = await memberToken(a.token, 'agent@disable.example', 'agent');
    const d = await t.call('PATCH', `/v1/members/${agent.id}`, {
      token: a.token,
      body: { disabled: true },
    });
    expect(d.body.disabled).toBe(true);
    expect((await t.call('GET', '/v1/me', { token: agent.token })).status).toBe(401);
    const login = await t.call('POST', '/v1/auth/login', {
      body: { email: 'agent@disable.example', password },
    });
    expect(login.status).toBe(403);
    expect(login.body.error.code).toBe('member_disabled');
    await t.call('PATCH', `/v1/members/${agent.id}`, { token: a.token, body: { disabled: false } });
    expect(
      (
        await t.call('POST', '/v1/auth/login', {
          body: { email: 'agent@disable.example', password },
        })
      ).status,
    ).toBe(200);
  });

  it('keeps at least one enabled owner', async () => {
    const a = await t.tenant('OwnerCo');
    const r = await t.call('PATCH', `/v1/members/${a.ownerId}`, {
      token: a.token,
      body: { role: 'admin' },
    });
    expect(r.status).toBe(409);
    expect(
      (
        await t.call('PATCH', `/v1/members/${a.ownerId}`, {
          token: a.token,
          body: { disabled: true },
        })
      ).status,
    ).toBe(409);
  });

  it('an email belongs to one member across the platform', async () => {
    const a = await t.tenant('DupCo');
    const r = await t.call('POST', '/v1/members', {
      token: a.token,
      body: { email: a.email, name: 'dup', password },
    });
    expect(r.status).toBe(409);
    expect(r.body.error.param).toBe('email');
  });
});

describe('credential changes take effect on the next request', () => {
  it('disabling a member or changing their role applies to a session already in use', async () => {
    const a = await t.tenant('CacheCo');
    const agent = await memberToken(a.token, 'agent@cache.example', 'agent');
    // Used first, so the session is resolved (and cached) before the change.
    expect((await t.call('GET', '/v1/me', { token: agent.token })).body.scopes).not.toContain(
      'members:write',
    );
    const promote = await t.call('PATCH', `/v1/members/${agent.id}`, {
      token: a.token,
      body: { role: 'admin' },
    });
    expect(promote.status).toBe(200);
    const me = await t.call('GET', '/v1/me', { token: agent.token });
    expect(me.body.scopes).toContain('members:write');

    expect((await t.call('GET', '/v1/members', { token: agent.token })).status).toBe(200);
    const disable = await t.call('PATCH', `/v1/members/${agent.id}`, {
      token: a.token,
      body: { disabled: true },
    });
    expect(disable.status).toBe(200);
    const after = await t.call('GET', '/v1/members', { token: agent.token });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('token_revoked');
  });
});

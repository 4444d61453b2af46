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
let seq = 0;
const signupBody = (domain = 'shop.example', extra: Record<string, unknown> = {}) => ({
  company_name: 'Shop Co',
  contact_name: 'Wang Fang',
  contact_email: `wang${++seq}@${domain}`,
  owner_password: password,
  ...extra,
});

describe('signup and approval', () => {
  it('creates a pending tenant whose owner cannot log in until approved', async () => {
    const body = signupBody('shop.example', {
      contact_phone: '+86 10 1234 5678',
      business_size: '11-50',
      industry: 'retail',
    });
    const s = await t.call('POST', '/v1/signup', { body });
    expect(s.status).toBe(201);
    expect(s.body.tenant).toMatchObject({
      status: 'pending',
      company_name: 'Shop Co',
      business_size: '11-50',
      industry: 'retail',
    });
    expect(s.body.owner_id).toMatch(/^usr_/);
    expect(JSON.stringify(s.body)).not.toContain(password);

    const denied = await t.call('POST', '/v1/auth/login', {
      body: { email: body.contact_email, password },
    });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('tenant_not_active');

    const ok = await t.call('POST', `/v1/admin/tenants/${s.body.tenant.id}/approve`, {
      token: t.operatorToken,
      body: { reason: 'licence checked' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'active', status_reason: 'licence checked' });
    expect(ok.body.approved_at).not.toBeNull();

    const login = await t.call('POST', '/v1/auth/login', {
      body: { email: body.contact_email, password },
    });
    expect(login.status).toBe(200);
    expect(login.body.token).toMatch(/^ads_/);
    expect(login.body.member.role).toBe('owner');
  });

  it('rejects a second signup with the same email', async () => {
    const body = signupBody();
    expect((await t.call('POST', '/v1/signup', { body })).status).toBe(201);
    const dup = await t.call('POST', '/v1/signup', {
      body: { ...body, contact_email: body.contact_email.toUpperCase() },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'already_exists', param: 'contact_email' });
  });

  it('answers 400 naming the field for bad signups', async () => {
    const short = await t.call('POST', '/v1/signup', {
      body: { ...signupBody(), owner_password: 'short' },
    });
    expect(short.status).toBe(400);
    expect(short.body.error).toMatchObject({ code: 'validation_failed', param: 'owner_password' });
    const email = await t.call('POST', '/v1/signup', {
      body: { ...signupBody(), contact_email: 'not-an-email' },
    });
    expect(email.body.error.param).toBe('contact_email');
    const unknown = await t.call('POST', '/v1/signup', {
      body: { ...signupBody(), tenant_id: 'tnt_x' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.param).toBe('tenant_id');
  });

  it('walks the status table: reject, suspend, reactivate, and refuses illegal moves with 409', async () => {
    const a = await t.call('POST', '/v1/signup', { body: signupBody() });
    const id = a.body.tenant.id;
    const op = { token: t.operatorToken, body: {} };
    expect((await t.call('POST', `/v1/admin/tenants/${id}/suspend`, op)).status).toBe(409);
    const rej = await t.call('POST', `/v1/admin/tenants/${id}/reject`, {
      token: t.operatorToken,
      body: { reason: 'spam' },
    });
    expect(rej.body.status).toBe('rejected');
    const again = await t.call('POST', `/v1/admin/tenants/${id}/reject`, op);
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'invalid_state_transition',
      details: { current_status: 'rejected' },
    });
    expect((await t.call('POST', `/v1/admin/tenants/${id}/approve`, op)).body.status).toBe(
      'active',
    );
    expect((await t.call('POST', `/v1/admin/tenants/${id}/suspend`, op)).body.status).toBe(
      'suspended',
    );
    expect((await t.call('POST', `/v1/admin/tenants/${id}/reactivate`, op)).body.status).toBe(
      'active',
    );

    const detail = await t.call('GET', `/v1/admin/tenants/${id}`, { token: t.operatorToken });
    expect(detail.body.status_history.map((e: { to_status: string }) => e.to_status)).toEqual([
      'pending',
      'rejected',
      'active',
      'suspended',
      'active',
    ]);
    expect(detail.body.status_history[1]).toMatchObject({ from_status: 'pending', reason: 'spam' });
    expect(detail.body.member_count).toBe(1);
  });

  it('suspending a tenant stops its sessions and keys at once; reactivating restores them', async () => {
    const a = await t.tenant('Suspendable');
    const key = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'k', scopes: ['tenant:read'] },
    });
    expect((await t.call('GET', '/v1/tenant', { token: key.body.secret })).status).toBe(200);
    await t.call('POST', `/v1/admin/tenants/${a.tenantId}/suspend`, {
      token: t.operatorToken,
      body: {},
    });
    for (const token of [a.token, key.body.secret]) {
      const r = await t.call('GET', '/v1/tenant', { token });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('tenant_not_active');
    }
    const login = await t.call('POST', '/v1/auth/login', { body: { email: a.email, password } });
    expect(login.body.error.code).toBe('tenant_not_active');
    await t.call('POST', `/v1/admin/tenants/${a.tenantId}/reactivate`, {
      token: t.operatorToken,
      body: {},
    });
    expect((await t.call('GET', '/v1/tenant', { token: key.body.secret })).status).toBe(200);
  });

  it('lists tenants by status with cursor pages', async () => {
    for (let i = 0; i < 3; i++)
      await t.call('POST', '/v1/signup', { body: signupBody('paged.example') });
    const first = await t.call('GET', '/v1/admin/tenants?status=pending&limit=2', {
      token: t.operatorToken,
    });
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.has_more).toBe(true);
    const second = await t.call(
      'GET',
      `/v1/admin/tenants?status=pending&limit=2&cursor=${first.body.next_cursor}`,
      { token: t.operatorToken },
    );
    const ids = [...first.body.data, ...second.body.data].map((x: { id: string }) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(
      [...first.body.data, ...second.body.data].every(
        (x: { status: string }) => x.status === 'pending',
      ),
    ).toBe(true);
    const bad = await t.call('GET', '/v1/admin/tenants?status=sleeping', {
      token: t.operatorToken,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('status');
  });

  it('operator routes refuse tenant credentials and no credential', async () => {
    const a = await t.tenant('NotOperator');
    expect((await t.call('GET', '/v1/admin/tenants', { token: a.token })).body.error.code).toBe(
      'forbidden',
    );
    expect((await t.call('GET', '/v1/admin/tenants')).status).toBe(401);
  });
});

describe('auto-approval policy', () => {
  it('approves by email domain, all, or not at all', async () => {
    const op = { token: t.operatorToken };
    expect((await t.call('GET', '/v1/admin/settings/auto-approval', op)).body).toEqual({
      mode: 'off',
    });
    const set = await t.call('PUT', '/v1/admin/settings/auto-approval', {
      ...op,
      body: { mode: 'email_domains', domains: ['Trusted.Example'] },
    });
    expect(set.body).toEqual({ mode: 'email_domains', domains: ['trusted.example'] });
    expect(
      (await t.call('POST', '/v1/signup', { body: signupBody('trusted.example') })).body.tenant
        .status,
    ).toBe('active');
    expect(
      (await t.call('POST', '/v1/signup', { body: signupBody('other.example') })).body.tenant
        .status,
    ).toBe('pending');
    await t.call('PUT', '/v1/admin/settings/auto-approval', { ...op, body: { mode: 'all' } });
    expect(
      (await t.call('POST', '/v1/signup', { body: signupBody('other.example') })).body.tenant
        .status,
    ).toBe('active');
    const bad = await t.call('PUT', '/v1/admin/settings/auto-approval', {
      ...op,
      body: { mode: 'email_domains', domains: [] },
    });
    expect(bad.status).toBe(400);
    await t.call('PUT', '/v1/admin/settings/auto-approval', { ...op, body: { mode: 'off' } });
  });
});

describe('tenant profile', () => {
  it('reads and updates its own profile; agents may read but not write', async () => {
    const a = await t.tenant('Profile');
    const patched = await t.call('PATCH', '/v1/tenant', {
      token: a.token,
      body: { industry: 'e-commerce', contact_phone: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id: a.tenantId,
      industry: 'e-commerce',
      contact_phone: null,
    });
    expect((await t.call('GET', '/v1/tenant', { token: a.token })).body.industry).toBe(
      'e-commerce',
    );
    const status = await t.call('PATCH', '/v1/tenant', {
      token: a.token,
      body: { status: 'active' },
    });
    expect(status.status).toBe(400);
    expect(status.body.error.param).toBe('status');

    await t.call('POST', '/v1/members', {
      token: a.token,
      body: { email: 'agent@profile.example', name: 'A', role: 'agent', password },
    });
    const agent = await t.call('POST', '/v1/auth/login', {
      body: { email: 'agent@profile.example', password },
    });
    expect((await t.call('GET', '/v1/tenant', { token: agent.body.token })).status).toBe(200);
    const w = await t.call('PATCH', '/v1/tenant', {
      token: agent.body.token,
      body: { industry: 'x' },
    });
    expect(w.status).toBe(403);
    expect(w.body.error.code).toBe('insufficient_scope');
  });
});

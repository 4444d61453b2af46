/**
 * End to end against the real server (@astrdesk/server, built), on 127.0.0.1 with a fresh
 * SQLite database: signup → operator approval → login → API key → use and revoke it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOperator, loadConfig, type RunningServer, startServer } from '@astrdesk/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AstrDesk } from './client.js';
import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
} from './error.js';

let server: RunningServer;
let dataDir: string;
let operatorToken: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-sdk-e2e-'));
  server = await startServer({
    config: loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      ASTRDESK_MASTER_KEY: randomBytes(32).toString('base64'),
    }),
  });
  ({ token: operatorToken } = await createOperator(server.services.db, 'sdk e2e operator'));
});

afterAll(async () => {
  await server?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('SDK against the real server', () => {
  it('signs up, gets approved, logs in, manages keys and members', async () => {
    const anonymous = new AstrDesk({ baseURL: server.url, apiKey: null, maxRetries: 0 });
    const operator = new AstrDesk({ baseURL: server.url, apiKey: operatorToken });

    // Signup starts pending; the owner cannot log in yet.
    const email = 'lilei@acme.example';
    const password = 'correct-horse-battery';
    const signup = await anonymous.tenant.signup({
      company_name: 'Acme Ltd',
      contact_name: 'Li Lei',
      contact_email: email,
      business_size: '11-50',
      owner_password: password,
    });
    expect(signup.tenant.status).toBe('pending');
    const tenantId = signup.tenant.id;
    await expect(anonymous.auth.login({ email, password })).rejects.toMatchObject({
      constructor: PermissionDeniedError,
      code: 'tenant_not_active',
    });

    // The operator finds the tenant and approves it.
    const pendingIds: string[] = [];
    for await (const t of operator.admin.tenants.list({ status: 'pending' })) pendingIds.push(t.id);
    expect(pendingIds).toContain(tenantId);
    const approved = await operator.admin.tenants.approve(tenantId, { reason: 'verified licence' });
    expect(approved.status).toBe('active');
    const detail = await operator.admin.tenants.retrieve(tenantId);
    expect(detail.owner_email).toBe(email);
    expect(detail.status_history.map((e) => e.to_status)).toEqual(['pending', 'active']);
    await expect(operator.admin.tenants.reject(tenantId)).rejects.toMatchObject({
      constructor: ConflictError,
      code: 'invalid_state_transition',
    });
    expect(await operator.admin.autoApproval.retrieve()).toEqual({ mode: 'off' });

    // The owner logs in and acts with the session token.
    const session = await anonymous.auth.login({ email, password });
    expect(session.member.role).toBe('owner');
    const owner = anonymous.withOptions({ apiKey: session.token, maxRetries: 2 });
    const tenant = await owner.tenant.update({ industry: 'retail' });
    expect(tenant.industry).toBe('retail');
    expect((await owner.tenant.retrieve()).id).toBe(tenantId);

    for (let i = 0; i < 3; i++) {
      await owner.members.create({ email: `agent${i}@acme.example`, name: `Agent ${i}`, password });
    }
    const invited = await owner.members.create({
      email: 'new@acme.example',
      name: 'New',
      role: 'admin',
    });
    expect(invited.invite_token).toMatch(/^adv_/);
    const dup = owner.members.create({ email: 'agent0@acme.example', name: 'Again', password });
    await expect(dup).rejects.toBeInstanceOf(ConflictError);
    await expect(owner.members.create({ email: 'not-an-email', name: 'X' })).rejects.toMatchObject({
      constructor: BadRequestError,
      code: 'validation_failed',
      param: 'email',
    });

    const created = await owner.apiKeys.create({
      name: 'CRM backend',
      scopes: ['members:read', 'api_keys:read', 'tenant:read'],
    });
    expect(created.secret).toMatch(/^adk_/);

    // The API key's client: who am I, every member across pages, usage.
    const keyClient = new AstrDesk({ baseURL: server.url, apiKey: created.secret });
    const me = await keyClient.me.retrieve();
    expect(me.kind).toBe('api_key');
    expect(me.tenant_id).toBe(tenantId);
    expect(me.api_key?.id).toBe(created.id);

    const emails: string[] = [];
    for await (const m of keyClient.members.list({ limit: 2 })) emails.push(m.email);
    expect(emails).toHaveLength(5);
    expect(new Set(emails)).toEqual(
      new Set([
        email,
        'agent0@acme.example',
        'agent1@acme.example',
        'agent2@acme.example',
        'new@acme.example',
      ]),
    );
    const firstPage = await keyClient.members.list({ limit: 2 });
    expect(firstPage.data).toHaveLength(2);
    expect(firstPage.hasNextPage()).toBe(true);

    const member = await keyClient.members.retrieve(firstPage.data[0]!.id);
    expect(member.id).toBe(firstPage.data[0]!.id);
    await expect(keyClient.members.retrieve('usr_nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(keyClient.members.update(member.id, { name: 'X' })).rejects.toMatchObject({
      constructor: PermissionDeniedError,
      code: 'insufficient_scope',
    });

    const usage = await owner.apiKeys.usage(created.id, { granularity: 'day' });
    expect(usage.key_id).toBe(created.id);
    expect(usage.total).toBeGreaterThanOrEqual(5);
    expect((await owner.apiKeys.retrieve(created.id)).last_used_at).not.toBeNull();

    // Revoking the key locks it out.
    const revoked = await owner.apiKeys.revoke(created.id);
    expect(revoked.revoked_at).not.toBeNull();
    const err = await keyClient.me.retrieve().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).code).toBe('token_revoked');
    expect((err as AuthenticationError).requestId).toMatch(/^req_/);

    const keys: string[] = [];
    for await (const k of owner.apiKeys.list()) keys.push(k.id);
    expect(keys).toEqual([created.id]);

    // Logging out ends the session.
    await owner.auth.logout();
    await expect(owner.me.retrieve()).rejects.toMatchObject({
      constructor: AuthenticationError,
      code: 'token_revoked',
    });
  });

  it('replays a write sent twice with the same Idempotency-Key', async () => {
    const anonymous = new AstrDesk({ baseURL: server.url, apiKey: null });
    await anonymous.tenant.signup({
      company_name: 'Beta',
      contact_name: 'Han Meimei',
      contact_email: 'han@beta.example',
      owner_password: 'correct-horse-battery',
    });
    const operator = new AstrDesk({ baseURL: server.url, apiKey: operatorToken });
    const [beta] = (await operator.admin.tenants.list({ status: 'pending' })).data;
    await operator.admin.tenants.approve(beta!.id);
    const session = await anonymous.auth.login({
      email: 'han@beta.example',
      password: 'correct-horse-battery',
    });
    const owner = anonymous.withOptions({ apiKey: session.token });
    const body = { name: 'Once', scopes: ['tenant:read' as const] };
    const first = await owner.apiKeys.create(body, { idempotencyKey: 'create-once' });
    const again = await owner.apiKeys
      .create(body, { idempotencyKey: 'create-once' })
      .withResponse();
    expect(again.data.id).toBe(first.id);
    expect(again.response.headers.get('idempotent-replayed')).toBe('true');
    const mismatch = owner.apiKeys.create(
      { ...body, name: 'Other' },
      { idempotencyKey: 'create-once' },
    );
    await expect(mismatch).rejects.toMatchObject({ status: 422, code: 'idempotency_key_mismatch' });
  });
});

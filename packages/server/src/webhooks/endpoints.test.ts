import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';
import { getWebhookWorker } from './index.js';
import { startReceiver } from './test-receiver.js';

let t: TestServer;
let a: Awaited<ReturnType<TestServer['tenant']>>;
const url = 'https://crm.example.com/hooks/astrdesk';

beforeAll(async () => {
  t = await createTestServer();
  await getWebhookWorker(t.services)!.stop();
  a = await t.tenant('HookCo');
});
afterAll(async () => {
  await t?.close();
});

const create = (body: Record<string, unknown>, token = a.token) =>
  t.call('POST', '/v1/webhook-endpoints', { token, body });

describe('webhook endpoints', () => {
  it('shows the secret once; reads show secret_last4 only', async () => {
    const r = await create({
      url,
      events: ['message.created', 'message.blocked'],
      description: 'CRM',
    });
    expect(r.status).toBe(201);
    const secret: string = r.body.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(r.body).toMatchObject({
      object: 'webhook_endpoint',
      url,
      events: ['message.created', 'message.blocked'],
      enabled: true,
      description: 'CRM',
      secret_last4: secret.slice(-4),
    });
    expect(r.body.id).toMatch(/^we_[0-9A-Z]{26}$/);

    const one = await t.call('GET', `/v1/webhook-endpoints/${r.body.id}`, { token: a.token });
    expect(one.status).toBe(200);
    expect(one.body).not.toHaveProperty('secret');
    expect(JSON.stringify(one.body)).not.toContain(secret);
    expect(one.body.secret_last4).toBe(secret.slice(-4));
    const list = await t.call('GET', '/v1/webhook-endpoints', { token: a.token });
    expect(list.body.data.map((e: { id: string }) => e.id)).toContain(r.body.id);
    expect(JSON.stringify(list.body)).not.toContain(secret);

    // Stored encrypted, bound to the tenant.
    const row = await t.services.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', r.body.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_encrypted).not.toContain(secret.slice(6));
    expect(t.services.secrets.decrypt(row.secret_encrypted, a.tenantId)).toBe(secret);
    expect(() => t.services.secrets.decrypt(row.secret_encrypted, 'tnt_other')).toThrow();
    expect(t.logs.join('\n')).not.toContain(secret);
  });

  it('normalises events: duplicates dropped, * alone', async () => {
    const r = await create({ url, events: ['message.created', 'message.created'] });
    expect(r.body.events).toEqual(['message.created']);
    const all = await create({ url, events: ['message.created', '*'], enabled: false });
    expect(all.body).toMatchObject({ events: ['*'], enabled: false, description: null });
  });

  it('updates, rotates the secret, deletes', async () => {
    const r = await create({ url, events: ['message.created'] });
    const id: string = r.body.id;
    const p = await t.call('PATCH', `/v1/webhook-endpoints/${id}`, {
      token: a.token,
      body: {
        url: 'https://other.example.com/h',
        events: ['conversation.created'],
        description: 'new',
        enabled: false,
      },
    });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({
      url: 'https://other.example.com/h',
      events: ['conversation.created'],
      description: 'new',
      enabled: false,
      secret_last4: r.body.secret_last4,
    });
    const cleared = await t.call('PATCH', `/v1/webhook-endpoints/${id}`, {
      token: a.token,
      body: { description: null },
    });
    expect(cleared.body.description).toBeNull();
    expect((await t.call('GET', `/v1/webhook-endpoints/${id}`, { token: a.token })).body).toEqual(
      cleared.body,
    );

    const rot = await t.call('POST', `/v1/webhook-endpoints/${id}/rotate-secret`, {
      token: a.token,
    });
    expect(rot.status).toBe(200);
    expect(rot.body.secret).toMatch(/^whsec_/);
    expect(rot.body.secret).not.toBe(r.body.secret);
    expect(rot.body.secret_last4).toBe(rot.body.secret.slice(-4));
    const after = await t.call('GET', `/v1/webhook-endpoints/${id}`, { token: a.token });
    expect(after.body.secret_last4).toBe(rot.body.secret.slice(-4));
    expect(after.body).not.toHaveProperty('secret');
    expect(t.logs.join('\n')).not.toContain(rot.body.secret);

    const del = await t.call('DELETE', `/v1/webhook-endpoints/${id}`, { token: a.token });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ id, deleted: true });
    const gone = await t.call('GET', `/v1/webhook-endpoints/${id}`, { token: a.token });
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
    expect((await t.call('DELETE', `/v1/webhook-endpoints/${id}`, { token: a.token })).status).toBe(
      404,
    );
  });

  it('validates bodies', async () => {
    const bad = [
      { url: 'ftp://example.com/x', events: ['message.created'] },
      { url: 'not a url', events: ['message.created'] },
      { url, events: [] },
      { url, events: ['message.nope'] },
      { url, events: ['message.created'], extra: 1 },
      { events: ['message.created'] },
    ];
    for (const body of bad) {
      const r = await create(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
    }
    const e = await create({ url, events: ['message.created'] });
    const p = await t.call('PATCH', `/v1/webhook-endpoints/${e.body.id}`, {
      token: a.token,
      body: { events: [] },
    });
    expect(p.status).toBe(400);
  });

  it('lists newest first with cursor pages', async () => {
    const b = await t.tenant('PageCo');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create({ url, events: ['*'] }, b.token)).body.id);
    const p1 = await t.call('GET', '/v1/webhook-endpoints?limit=2', { token: b.token });
    expect(p1.body.data.map((e: { id: string }) => e.id)).toEqual([ids[2], ids[1]]);
    expect(p1.body.has_more).toBe(true);
    const p2 = await t.call(
      'GET',
      `/v1/webhook-endpoints?limit=2&cursor=${encodeURIComponent(p1.body.next_cursor)}`,
      { token: b.token },
    );
    expect(p2.body).toMatchObject({ has_more: false, next_cursor: null });
    expect(p2.body.data.map((e: { id: string }) => e.id)).toEqual([ids[0]]);
  });

  it('needs the webhooks scopes', async () => {
    const key = await t.call('POST', '/v1/api-keys', {
      token: a.token,
      body: { name: 'read only', scopes: ['webhooks:read'] },
    });
    const list = await t.call('GET', '/v1/webhook-endpoints', { token: key.body.secret });
    expect(list.status).toBe(200);
    const w = await create({ url, events: ['*'] }, key.body.secret);
    expect(w.status).toBe(403);
    expect(w.body.error.code).toBe('insufficient_scope');
    expect((await t.call('GET', '/v1/webhook-endpoints')).status).toBe(401);
  });

  it('documents every route under Webhooks with summaries and example bodies', async () => {
    const doc = (await t.call('GET', '/openapi.json')).body;
    const ops: Array<[string, string]> = [
      ['post', '/v1/webhook-endpoints'],
      ['get', '/v1/webhook-endpoints'],
      ['get', '/v1/webhook-endpoints/{id}'],
      ['patch', '/v1/webhook-endpoints/{id}'],
      ['delete', '/v1/webhook-endpoints/{id}'],
      ['post', '/v1/webhook-endpoints/{id}/rotate-secret'],
      ['get', '/v1/webhook-endpoints/{id}/deliveries'],
      ['get', '/v1/webhook-endpoints/{id}/deliveries/{delivery_id}'],
      ['post', '/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver'],
    ];
    for (const [m, p] of ops) {
      const op = doc.paths[p]?.[m];
      expect(op, `${m} ${p}`).toBeDefined();
      expect(op.tags).toEqual(['Webhooks']);
      expect(op.summary).toBeTruthy();
      const schema = op.requestBody?.content?.['application/json']?.schema;
      if (schema) {
        const ref = schema.$ref?.split('/').pop();
        expect(schema.example ?? doc.components.schemas[ref]?.example, `${m} ${p}`).toBeDefined();
      }
    }
  });
});

describe('webhook tenant isolation', () => {
  it("answers 404 for another tenant's endpoint and delivery ids on every route", async () => {
    const mine = await t.tenant('MineCo');
    const theirs = await t.tenant('TheirsCo');
    const myEp = (await create({ url, events: ['*'] }, mine.token)).body;
    const ep = (await create({ url, events: ['*'] }, theirs.token)).body;
    await t.services.events.transact(theirs.tenantId, (_tx, emit) =>
      emit('message.created', { message: { id: 'msg_x' } }),
    );
    const d = (
      await t.call('GET', `/v1/webhook-endpoints/${ep.id}/deliveries`, { token: theirs.token })
    ).body.data[0];
    expect(d.id).toMatch(/^whd_/);

    const calls: Array<[string, string, unknown?]> = [
      ['GET', `/v1/webhook-endpoints/${ep.id}`],
      ['PATCH', `/v1/webhook-endpoints/${ep.id}`, { enabled: false }],
      ['PATCH', `/v1/webhook-endpoints/${ep.id}`, { url: 'http://127.0.0.1/' }],
      ['DELETE', `/v1/webhook-endpoints/${ep.id}`],
      ['POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`],
      ['GET', `/v1/webhook-endpoints/${ep.id}/deliveries`],
      ['GET', `/v1/webhook-endpoints/${ep.id}/deliveries/${d.id}`],
      ['POST', `/v1/webhook-endpoints/${ep.id}/deliveries/${d.id}/redeliver`],
      // My endpoint, their delivery.
      ['GET', `/v1/webhook-endpoints/${myEp.id}/deliveries/${d.id}`],
      ['POST', `/v1/webhook-endpoints/${myEp.id}/deliveries/${d.id}/redeliver`],
    ];
    for (const [method, path, body] of calls) {
      const r = await t.call(method, path, {
        token: mine.token,
        ...(body !== undefined ? { body } : {}),
      });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error.code).toBe('not_found');
      expect(JSON.stringify(r.body)).not.toContain(ep.secret);
    }
    const list = await t.call('GET', '/v1/webhook-endpoints', { token: mine.token });
    expect(JSON.stringify(list.body)).not.toContain(ep.id);
    // Nothing changed on their side.
    const still = await t.call('GET', `/v1/webhook-endpoints/${ep.id}`, { token: theirs.token });
    expect(still.body).toMatchObject({ enabled: true, secret_last4: ep.secret_last4 });
  });
});

describe('private targets (WEBHOOK_ALLOW_PRIVATE_TARGETS off)', () => {
  it('rejects loopback, private, link-local and local-name URLs with target_not_allowed', async () => {
    for (const bad of [
      'http://127.0.0.1/hook',
      'http://10.0.0.8/',
      'http://172.16.5.4/',
      'http://192.168.1.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]/',
      'http://[fc00::1]/',
      'http://[fe80::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://0.0.0.0/',
      'http://localhost:8080/',
      'http://foo.localhost/',
    ]) {
      const r = await create({ url: bad, events: ['*'] });
      expect(r.status, bad).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'target_not_allowed', param: 'url' });
    }
    for (const good of ['http://8.8.8.8/hook', 'https://example.com/hook']) {
      expect((await create({ url: good, events: ['*'] })).status, good).toBe(201);
    }
    const ep = await create({ url, events: ['*'] });
    const p = await t.call('PATCH', `/v1/webhook-endpoints/${ep.body.id}`, {
      token: a.token,
      body: { url: 'http://192.168.0.10/' },
    });
    expect(p.status).toBe(400);
    expect(p.body.error).toMatchObject({ code: 'target_not_allowed', param: 'url' });
    expect(
      (await t.call('GET', `/v1/webhook-endpoints/${ep.body.id}`, { token: a.token })).body.url,
    ).toBe(url);
  });

  it('refuses to send to a private address at delivery time, recording why', async () => {
    const rx = await startReceiver();
    try {
      const tenant = await t.tenant('SendGuardCo');
      const literal = await create(
        { url: 'https://example.com/a', events: ['message.created'] },
        tenant.token,
      );
      const named = await create(
        { url: 'https://example.com/b', events: ['message.created'] },
        tenant.token,
      );
      // As if saved while private targets were allowed, or the URL's DNS changed since.
      await t.services.db
        .updateTable('webhook_endpoints')
        .set({ url: `${rx.url}/literal` })
        .where('id', '=', literal.body.id)
        .execute();
      await t.services.db
        .updateTable('webhook_endpoints')
        .set({ url: `http://localhost:${rx.port}/named` })
        .where('id', '=', named.body.id)
        .execute();
      // Nothing else may be sent from this server (no network in tests).
      await t.services.db
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', next_attempt_at: null })
        .where('status', '=', 'pending')
        .execute();
      await t.services.events.transact(tenant.tenantId, (_tx, emit) =>
        emit('message.created', { n: 1 }),
      );
      expect(await getWebhookWorker(t.services)!.runOnce()).toBe(2);
      expect(rx.received).toHaveLength(0);
      for (const [ep, why] of [
        [literal.body.id, /not allowed: 127\.0\.0\.1/],
        [named.body.id, /not allowed: localhost resolves to a private/],
      ] as const) {
        const list = await t.call('GET', `/v1/webhook-endpoints/${ep}/deliveries`, {
          token: tenant.token,
        });
        const d = list.body.data[0];
        expect(d).toMatchObject({ status: 'pending', attempts: 1, last_status_code: null });
        expect(d.last_error).toMatch(why);
        const detail = await t.call('GET', `/v1/webhook-endpoints/${ep}/deliveries/${d.id}`, {
          token: tenant.token,
        });
        expect(detail.body.attempt_log).toHaveLength(1);
        expect(detail.body.attempt_log[0].error).toMatch(why);
      }
    } finally {
      await rx.close();
    }
  });
});

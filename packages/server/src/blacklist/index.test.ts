import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';
import { runBlacklistJobs } from './jobs.js';
import { changesSince } from './service.js';

let t: TestServer;
let owner: Awaited<ReturnType<TestServer['tenant']>>;
let agentToken: string;
const future = () => new Date(t.services.now() + 3_600_000).toISOString();

beforeAll(async () => {
  t = await createTestServer();
  owner = await t.tenant('BlockCo');
  await t.call('POST', '/v1/members', {
    token: owner.token,
    body: { email: 'a@block.example', name: 'A', role: 'agent', password: 'correct-horse-battery' },
  });
  agentToken = (
    await t.call('POST', '/v1/auth/login', {
      body: { email: 'a@block.example', password: 'correct-horse-battery' },
    })
  ).body.token;
});
afterAll(async () => {
  await t?.close();
});

const add = (body: unknown, token = owner.token) =>
  t.call('POST', '/v1/blacklist', { token, body });

describe('blacklist entries', () => {
  it('adds an entry with the operator taken from the credential, and checks it', async () => {
    const r = await add({ platform: 'qq', platform_user_id: '10001', reason: 'abuse' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      platform: 'qq',
      platform_user_id: '10001',
      reason: 'abuse',
      active: true,
      operator: `member:${owner.ownerId}`,
      expires_at: null,
    });
    const check = await t.call('GET', '/v1/blacklist/check?platform=qq&user_id=10001', {
      token: agentToken,
    });
    expect(check.body).toMatchObject({ blocked: true, entry: { id: r.body.id } });
    expect(
      (
        await t.call('GET', '/v1/blacklist/check?platform=wecom&user_id=10001', {
          token: owner.token,
        })
      ).body,
    ).toEqual({ blocked: false, entry: null });
    const dup = await add({ platform: 'qq', platform_user_id: '10001' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.details.entry_id).toBe(r.body.id);
    const spoof = await add({
      platform: 'qq',
      platform_user_id: '10002',
      operator: 'someone-else',
    });
    expect(spoof.status).toBe(400);
    expect(spoof.body.error.param).toBe('operator');
  });

  it('refuses unknown platforms, empty ids and past expiry, naming the field', async () => {
    expect((await add({ platform: 'myspace', platform_user_id: 'x' })).body.error.param).toBe(
      'platform',
    );
    expect((await add({ platform: 'qq', platform_user_id: '  ' })).body.error.param).toBe(
      'platform_user_id',
    );
    const past = await add({
      platform: 'qq',
      platform_user_id: 'p',
      expires_at: '2001-01-01T00:00:00Z',
    });
    expect(past.status).toBe(400);
    expect(past.body.error.param).toBe('expires_at');
    expect((await add({ platform: 'qq', platform_user_id: 'p' }, agentToken)).body.error.code).toBe(
      'insufficient_scope',
    );
  });

  it('expired entries stop blocking at expires_at, with no change needed', async () => {
    const r = await add({
      platform: 'telegram',
      platform_user_id: 'temp',
      expires_at: new Date(t.services.now() + 60_000).toISOString(),
    });
    expect(
      (
        await t.call('GET', '/v1/blacklist/check?platform=telegram&user_id=temp', {
          token: owner.token,
        })
      ).body.blocked,
    ).toBe(true);
    t.advance(61_000);
    const after = await t.call('GET', '/v1/blacklist/check?platform=telegram&user_id=temp', {
      token: owner.token,
    });
    expect(after.body).toMatchObject({ blocked: false, entry: { id: r.body.id, active: false } });
    const expired = await t.call('GET', '/v1/blacklist?status=expired', { token: owner.token });
    expect(expired.body.data.map((e: { id: string }) => e.id)).toContain(r.body.id);
    expect(
      (await t.call('GET', '/v1/blacklist?status=active', { token: owner.token })).body.data.map(
        (e: { id: string }) => e.id,
      ),
    ).not.toContain(r.body.id);
  });

  it('updates reason and expiry, deletes, and audits every change with before and after', async () => {
    const r = await add({ platform: 'discord', platform_user_id: 'troll', reason: 'spam' });
    const u = await t.call('PATCH', `/v1/blacklist/${r.body.id}`, {
      token: owner.token,
      body: { reason: 'repeated spam', expires_at: future() },
    });
    expect(u.body).toMatchObject({ reason: 'repeated spam', active: true });
    expect(
      (await t.call('DELETE', `/v1/blacklist/${r.body.id}`, { token: owner.token })).body,
    ).toEqual({ id: r.body.id, deleted: true });
    expect((await t.call('GET', `/v1/blacklist/${r.body.id}`, { token: owner.token })).status).toBe(
      404,
    );
    const audit = await t.call('GET', `/v1/blacklist/audit?entry_id=${r.body.id}`, {
      token: owner.token,
    });
    expect(audit.body.data.map((a: { action: string }) => a.action)).toEqual([
      'remove',
      'update',
      'add',
    ]);
    const [removed, updated, added] = audit.body.data;
    expect(added).toMatchObject({
      before: null,
      after: { reason: 'spam' },
      actor: `member:${owner.ownerId}`,
    });
    expect(updated).toMatchObject({
      before: { reason: 'spam' },
      after: { reason: 'repeated spam' },
    });
    expect(removed).toMatchObject({ before: { reason: 'repeated spam' }, after: null });
    expect(removed.revision).toBeGreaterThan(updated.revision);
  });

  it('searches by user id or reason substring, platform and operator', async () => {
    await add({ platform: 'wecom', platform_user_id: 'zhangsan_001', reason: '辱骂客服' });
    await add({ platform: 'wecom', platform_user_id: 'lisi', reason: 'fraud attempt' });
    const byId = await t.call('GET', '/v1/blacklist?q=zhangsan', { token: owner.token });
    expect(byId.body.data.map((e: { platform_user_id: string }) => e.platform_user_id)).toEqual([
      'zhangsan_001',
    ]);
    expect(
      (await t.call('GET', `/v1/blacklist?q=${encodeURIComponent('辱骂')}`, { token: owner.token }))
        .body.data,
    ).toHaveLength(1);
    expect(
      (await t.call('GET', '/v1/blacklist?q=FRAUD', { token: owner.token })).body.data,
    ).toHaveLength(1);
    expect(
      (await t.call('GET', '/v1/blacklist?platform=wecom', { token: owner.token })).body.data,
    ).toHaveLength(2);
    expect(
      (
        await t.call('GET', `/v1/blacklist?operator=member:${owner.ownerId}&platform=wecom`, {
          token: owner.token,
        })
      ).body.data,
    ).toHaveLength(2);
  });
});

describe('batches', () => {
  it('reports created, updated and invalid per item, and duplicates inside the batch', async () => {
    await add({ platform: 'line', platform_user_id: 'existing', reason: 'old' });
    const r = await t.call('POST', '/v1/blacklist/batch', {
      token: owner.token,
      body: {
        entries: [
          { platform: 'line', platform_user_id: 'new-1', reason: 'spam' },
          { platform: 'line', platform_user_id: 'existing', reason: 'new reason' },
          { platform: 'nope', platform_user_id: 'x' },
          { platform: 'line', platform_user_id: '' },
          { platform: 'line', platform_user_id: 'new-1', reason: 'again' },
          { platform: 'line', platform_user_id: 'late', expires_at: '2001-01-01T00:00:00Z' },
        ],
      },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ created: 1, updated: 1, invalid: 4 });
    expect(r.body.results.map((x: { status: string }) => x.status)).toEqual([
      'created',
      'updated',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
    ]);
    expect(r.body.results[2].error.param).toBe('platform');
    expect(r.body.results[3].error.param).toBe('platform_user_id');
    expect(r.body.results[4].error).toMatchObject({ code: 'duplicate_in_batch' });
    expect(r.body.results[5].error.param).toBe('expires_at');
    expect(r.body.results[1].entry.reason).toBe('new reason');
  });

  it('a batch of 1,001 is refused whole: 400 and nothing written', async () => {
    const before = await t.services.db
      .selectFrom('blacklist_entries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const entries = Array.from({ length: 1001 }, (_, i) => ({
      platform: 'qq',
      platform_user_id: `bulk-${i}`,
    }));
    const r = await t.call('POST', '/v1/blacklist/batch', {
      token: owner.token,
      body: { entries },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('entries');
    const after = await t.services.db
      .selectFrom('blacklist_entries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('1,000 entries go in one transaction, each bumping the revision once', async () => {
    const rev0 = (
      await t.call('POST', '/v1/blacklist/batch', {
        token: owner.token,
        body: { entries: [{ platform: 'kook', platform_user_id: 'k0' }] },
      })
    ).body.revision;
    const entries = Array.from({ length: 1000 }, (_, i) => ({
      platform: 'kook',
      platform_user_id: `k-${i}`,
    }));
    const r = await t.call('POST', '/v1/blacklist/batch', {
      token: owner.token,
      body: { entries },
    });
    expect(r.body).toMatchObject({ created: 1000, invalid: 0, revision: rev0 + 1000 });
    const changes = await changesSince(t.services.db, owner.tenantId, rev0);
    expect(changes).toHaveLength(1000);
    expect(changes!.map((c) => c.revision)).toEqual(
      Array.from({ length: 1000 }, (_, i) => rev0 + 1 + i),
    );
  });

  it('batch-deletes by ids and by pairs, reporting what was not there', async () => {
    const a = await add({ platform: 'slack', platform_user_id: 'u1' });
    await add({ platform: 'slack', platform_user_id: 'u2' });
    const r = await t.call('POST', '/v1/blacklist/batch-delete', {
      token: owner.token,
      body: {
        ids: [a.body.id, 'bl_missing'],
        pairs: [
          { platform: 'slack', platform_user_id: 'u2' },
          { platform: 'slack', platform_user_id: 'ghost' },
        ],
      },
    });
    expect(r.body).toMatchObject({ deleted: 2, not_found: 2 });
    expect(
      (await t.call('GET', '/v1/blacklist?platform=slack', { token: owner.token })).body.data,
    ).toHaveLength(0);
    expect(
      (await t.call('POST', '/v1/blacklist/batch-delete', { token: owner.token, body: {} })).status,
    ).toBe(400);
  });
});

describe('stats and compaction', () => {
  it('counts blocks per user and per day from reported blocked messages', async () => {
    await add({ platform: 'qq', platform_user_id: 'blocked-a', reason: 'spam bot' });
    const inst = await t.call('POST', '/v1/instances', {
      token: owner.token,
      body: { name: 'b', platforms: ['qq'] },
    });
    const blocked = (i: number, user: string) => ({
      id: `blk-${user}-${i}`,
      type: 'message.blocked',
      occurred_at: new Date().toISOString(),
      data: {
        platform: 'qq',
        platform_user_id: user,
        platform_message_id: `m${i}`,
        session_id: `s-${user}`,
        kind: 'text',
        text: 'buy now',
        sent_at: new Date(t.services.now()).toISOString(),
        message_status: 'blocked_by_blacklist',
        reason: 'spam bot',
      },
    });
    const r = await t.call('POST', '/v1/sidecar/events', {
      token: inst.body.token,
      body: {
        events: [
          blocked(1, 'blocked-a'),
          blocked(2, 'blocked-a'),
          blocked(3, 'blocked-a'),
          blocked(4, 'blocked-b'),
        ],
      },
    });
    expect(r.status).toBe(200);
    const stats = await t.call('GET', '/v1/blacklist/stats', { token: owner.token });
    expect(stats.body.per_user[0]).toMatchObject({
      platform: 'qq',
      platform_user_id: 'blocked-a',
      count: 3,
      last_reason: 'spam bot',
    });
    expect(stats.body.per_user[1]).toMatchObject({
      platform_user_id: 'blocked-b',
      count: 1,
      last_reason: null,
    });
    expect(stats.body.per_day.reduce((s: number, d: { count: number }) => s + d.count, 0)).toBe(4);
    expect(stats.body.entries.active).toBeGreaterThan(0);
  });

  it('compaction keeps changes an instance still needs, and drops them past the hard limit', async () => {
    const inst = await t.call('POST', '/v1/instances', {
      token: owner.token,
      body: { name: 'lagging', platforms: [] },
    });
    expect((await add({ platform: 'misskey', platform_user_id: 'c1' })).status).toBe(201);
    const rev = (await t.call('GET', `/v1/instances/${inst.body.id}`, { token: owner.token })).body
      .sync.revision;
    expect(rev).toBeGreaterThan(0);
    t.advance(200 * 3_600_000); // past the 168 h retention, before the 720 h hard limit
    await runBlacklistJobs(t.services);
    // Every instance is at applied_revision 0, so nothing may go yet.
    expect(await changesSince(t.services.db, owner.tenantId, 0)).toBeDefined();
    t.advance(600 * 3_600_000);
    expect(await runBlacklistJobs(t.services)).toBeGreaterThan(0);
    expect(await changesSince(t.services.db, owner.tenantId, 0)).toBeUndefined();
  });
});

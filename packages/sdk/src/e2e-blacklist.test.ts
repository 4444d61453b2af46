/**
 * End to end against the real server (@astrdesk/server, built): the blacklist (create,
 * batches with per-item results, check, list, update, audit, removal, the batch size limit)
 * and the revision an instance's `sync` reports.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createOperator, loadConfig, type RunningServer, startServer } from '@astrdesk/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AstrDesk } from './client.js';
import { BadRequestError, ConflictError, NotFoundError } from './error.js';
import type { CreateBlacklistEntryParams } from './types.js';

let server: RunningServer;
let dataDir: string;
let owner: AstrDesk;
let ownerId: string;

const password = 'correct-horse-battery';

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-sdk-e2e-blacklist-'));
  server = await startServer({
    config: loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      ASTRDESK_MASTER_KEY: randomBytes(32).toString('base64'),
    }),
  });
  const { token: operatorToken } = await createOperator(server.services.db, 'sdk e2e operator');
  const anonymous = new AstrDesk({ baseURL: server.url, apiKey: null });
  const signup = await anonymous.tenant.signup({
    company_name: 'Acme Ltd',
    contact_name: 'Li Lei',
    contact_email: 'lilei@acme.example',
    owner_password: password,
  });
  ownerId = signup.owner_id;
  const operator = new AstrDesk({ baseURL: server.url, apiKey: operatorToken });
  await operator.admin.tenants.approve(signup.tenant.id);
  const session = await anonymous.auth.login({ email: 'lilei@acme.example', password });
  owner = anonymous.withOptions({ apiKey: session.token, maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

async function sleepUntil(ms: number) {
  const wait = ms - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait + 20));
}

describe('SDK blacklist against the real server', () => {
  it('blocks, batches, checks, lists, updates, audits and unblocks users', async () => {
    const instance = await owner.instances.create({ name: 'prod-bot-1', platforms: ['qq'] });
    expect(instance.sync).toMatchObject({ online: false, applied_revision: 0, revision: 0 });
    /** Blacklist changes written so far: each one bumps the tenant's revision. */
    let changes = 0;

    // One entry, with a Date expiry.
    const inADay = new Date(Date.now() + 86_400_000);
    const first = await owner.blacklist.create({
      platform: 'qq',
      platform_user_id: '10001',
      reason: 'abusive language',
      expires_at: inADay,
    });
    changes++;
    expect(first).toMatchObject({
      object: 'blacklist_entry',
      platform: 'qq',
      platform_user_id: '10001',
      reason: 'abusive language',
      expires_at: inADay.toISOString(),
      active: true,
      operator: `member:${ownerId}`,
    });

    // The same pair again: a conflict that names the existing entry.
    await expect(
      owner.blacklist.create({ platform: 'qq', platform_user_id: '10001' }),
    ).rejects.toMatchObject({
      constructor: ConflictError,
      code: 'already_exists',
      details: { entry_id: first.id },
    });

    // A batch: new pairs, an existing pair, invalid items and a pair repeated in the batch.
    const expiresSoon = Date.now() + 1_500;
    const batch = await owner.blacklist.batch([
      { platform: 'qq', platform_user_id: '20001', reason: 'spam' },
      { platform: 'qq', platform_user_id: '10001', reason: 'repeat offender' },
      { platform: 'qq', platform_user_id: '   ' },
      { platform: 'qq', platform_user_id: '20002', expires_at: new Date(Date.now() - 60_000) },
      { platform: 'nowhere', platform_user_id: '20003' } as unknown as CreateBlacklistEntryParams,
      { platform: 'qq', platform_user_id: '20001', reason: 'again' },
      { platform: 'wecom', platform_user_id: 'zhangsan', expires_at: new Date(expiresSoon) },
    ]);
    changes += 3;
    expect(batch).toMatchObject({
      object: 'blacklist_batch_result',
      created: 2,
      updated: 1,
      invalid: 4,
    });
    expect(batch.results.map((r) => [r.index, r.status, r.error?.code, r.error?.param])).toEqual([
      [0, 'created', undefined, undefined],
      [1, 'updated', undefined, undefined],
      [2, 'invalid', 'validation_failed', 'platform_user_id'],
      [3, 'invalid', 'validation_failed', 'expires_at'],
      [4, 'invalid', 'validation_failed', 'platform'],
      [5, 'invalid', 'duplicate_in_batch', 'platform_user_id'],
      [6, 'created', undefined, undefined],
    ]);
    expect(batch.results[1]!.entry).toMatchObject({ id: first.id, reason: 'repeat offender' });
    const spammer = batch.results[0]!.entry!;
    const temporary = batch.results[6]!.entry!;
    expect(temporary.expires_at).toBe(new Date(expiresSoon).toISOString());
    expect(batch.revision).toBe(changes);

    // Check.
    const blocked = await owner.blacklist.check({ platform: 'qq', user_id: '10001' });
    expect(blocked).toMatchObject({
      blocked: true,
      entry: { id: first.id, reason: 'repeat offender' },
    });
    expect(await owner.blacklist.check({ platform: 'qq', user_id: 'nobody' })).toEqual({
      blocked: false,
      entry: null,
    });

    // List: every page, a search, and by status once the temporary entry has expired.
    const all: string[] = [];
    for await (const e of owner.blacklist.list({ limit: 1 })) all.push(e.id);
    expect(all).toEqual([temporary.id, spammer.id, first.id]);
    const found = await owner.blacklist.list({ q: '2000' });
    expect(found.data.map((e) => e.id)).toEqual([spammer.id]);
    expect((await owner.blacklist.list({ q: 'offender', platform: 'qq' })).data).toHaveLength(1);
    await sleepUntil(expiresSoon);
    const expired = await owner.blacklist.list({ status: 'expired' });
    expect(expired.data.map((e) => [e.id, e.active])).toEqual([[temporary.id, false]]);
    const active = await owner.blacklist.list({ status: 'active', operator: `member:${ownerId}` });
    expect(active.data.map((e) => e.id)).toEqual([spammer.id, first.id]);
    expect(await owner.blacklist.check({ platform: 'wecom', user_id: 'zhangsan' })).toMatchObject({
      blocked: false,
      entry: { id: temporary.id, active: false },
    });

    // Update: a Date expiry, then null clears the reason and makes the entry permanent.
    const inAWeek = new Date(Date.now() + 7 * 86_400_000);
    const extended = await owner.blacklist.update(first.id, { expires_at: inAWeek });
    changes++;
    expect(extended).toMatchObject({
      expires_at: inAWeek.toISOString(),
      reason: 'repeat offender',
    });
    const permanent = await owner.blacklist.update(first.id, { reason: null, expires_at: null });
    changes++;
    expect(permanent).toMatchObject({ id: first.id, reason: null, expires_at: null, active: true });
    expect(await owner.blacklist.retrieve(first.id)).toEqual(permanent);
    await expect(owner.blacklist.update('bl_missing', { reason: 'x' })).rejects.toBeInstanceOf(
      NotFoundError,
    );

    // Remove one by id.
    expect(await owner.blacklist.remove(spammer.id)).toEqual({ id: spammer.id, deleted: true });
    changes++;
    await expect(owner.blacklist.retrieve(spammer.id)).rejects.toBeInstanceOf(NotFoundError);

    // The audit log has every add, update and remove, newest first.
    const audit: Array<[string, string]> = [];
    for await (const a of owner.blacklist.audit({ limit: 2 })) audit.push([a.action, a.entry_id]);
    expect(audit).toHaveLength(changes);
    expect(new Set(audit.map(([action]) => action))).toEqual(new Set(['add', 'update', 'remove']));
    const ofFirst = await owner.blacklist.audit({ entry_id: first.id });
    expect(ofFirst.data.map((a) => a.action)).toEqual(['update', 'update', 'update', 'add']);
    expect(ofFirst.data[0]).toMatchObject({
      actor: `member:${ownerId}`,
      before: { expires_at: inAWeek.toISOString() },
      after: { reason: null, expires_at: null },
    });
    const removal = await owner.blacklist.audit({ platform_user_id: '20001' });
    expect(removal.data.map((a) => a.action)).toEqual(['remove', 'add']);
    expect(removal.data[0]).toMatchObject({ before: { id: spammer.id }, after: null });

    // Remove by (platform, user) pairs; an unknown pair counts as not found.
    const removed = await owner.blacklist.batchRemove({
      pairs: [
        { platform: 'qq', platform_user_id: '10001' },
        { platform: 'wecom', platform_user_id: 'zhangsan' },
        { platform: 'qq', platform_user_id: 'nobody' },
      ],
    });
    changes += 2;
    expect(removed).toMatchObject({
      object: 'blacklist_batch_delete_result',
      deleted: 2,
      not_found: 1,
      revision: changes,
    });
    expect([...removed.deleted_ids].sort()).toEqual([first.id, temporary.id].sort());
    expect((await owner.blacklist.list()).data).toEqual([]);

    // More than 1,000 items: the server refuses the whole batch and writes nothing.
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({
      platform: 'qq' as const,
      platform_user_id: `bulk-${i}`,
    }));
    await expect(owner.blacklist.batch(tooMany)).rejects.toMatchObject({
      constructor: BadRequestError,
      code: 'validation_failed',
    });
    expect((await owner.blacklist.list()).data).toEqual([]);
    expect((await owner.blacklist.audit()).data).toHaveLength(Math.min(changes, 20));
    expect((await owner.blacklist.check({ platform: 'qq', user_id: 'bulk-0' })).blocked).toBe(
      false,
    );

    // Stats: nothing blocked yet, no entries left.
    const stats = await owner.blacklist.stats({ from: new Date(Date.now() - 86_400_000) });
    expect(stats).toEqual({
      object: 'blacklist_stats',
      entries: { active: 0, expired: 0 },
      per_user: [],
      per_day: [],
    });

    // The instance's sync state: the tenant's revision moved; no sidecar has connected.
    const { sync } = await owner.instances.retrieve(instance.id);
    expect(sync.revision).toBeGreaterThanOrEqual(changes);
    expect(sync).toMatchObject({
      online: false,
      connected_at: null,
      applied_revision: 0,
      lag: sync.revision,
    });
    const listed = await owner.instances.list();
    expect(listed.data[0]!.sync.revision).toBe(sync.revision);
  });
});

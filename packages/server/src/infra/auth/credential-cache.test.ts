import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { CredentialCache } from './credential-cache.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const entry = (tenantId: string, n = 1) => ({ tenantId, n });

describe('CredentialCache', () => {
  it('keeps an entry for the TTL only', () => {
    let t = 1_000;
    const cache = new CredentialCache<ReturnType<typeof entry>>({ ttlMs: 50, now: () => t });
    cache.set('h1', entry('t1'), cache.generation());
    expect(cache.get('h1')).toEqual(entry('t1'));
    t += 49;
    expect(cache.get('h1')).toBeDefined();
    t += 1;
    expect(cache.get('h1')).toBeUndefined();
  });

  it('ttlMs 0 caches nothing', () => {
    const cache = new CredentialCache<ReturnType<typeof entry>>({ ttlMs: 0 });
    cache.set('h1', entry('t1'), cache.generation());
    expect(cache.get('h1')).toBeUndefined();
  });

  it("invalidateTenant drops that tenant's entries only", async () => {
    const cache = new CredentialCache<ReturnType<typeof entry>>({ ttlMs: 60_000 });
    cache.set('a1', entry('A'), cache.generation());
    cache.set('a2', entry('A'), cache.generation());
    cache.set('b1', entry('B'), cache.generation());
    await cache.invalidateTenant('A');
    expect(cache.get('a1')).toBeUndefined();
    expect(cache.get('a2')).toBeUndefined();
    expect(cache.get('b1')).toBeDefined();
  });

  it('a lookup that began before an invalidation does not store its stale row', async () => {
    const cache = new CredentialCache<ReturnType<typeof entry>>({ ttlMs: 60_000 });
    const before = cache.generation();
    await cache.invalidateTenant('A'); // e.g. the key was revoked while the query ran
    cache.set('a1', entry('A'), before);
    expect(cache.get('a1')).toBeUndefined();
    cache.set('a1', entry('A', 2), cache.generation());
    expect(cache.get('a1')).toEqual(entry('A', 2));
  });

  it('holds at most maxEntries, dropping the oldest', () => {
    const cache = new CredentialCache<ReturnType<typeof entry>>({ ttlMs: 60_000, maxEntries: 2 });
    for (const h of ['x', 'y', 'z']) cache.set(h, entry('T'), cache.generation());
    expect(cache.size).toBe(2);
    expect(cache.get('x')).toBeUndefined();
    expect(cache.get('z')).toBeDefined();
  });
});

describe('CredentialCache across replicas (Redis)', () => {
  const open: Array<CredentialCache<ReturnType<typeof entry>>> = [];
  const clients: Redis[] = [];
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
    for (const r of clients.splice(0)) await r.quit().catch(() => {});
  });
  const replica = async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    clients.push(redis);
    const cache = new CredentialCache<ReturnType<typeof entry>>({ ttlMs: 60_000 });
    await cache.connect(redis);
    open.push(cache);
    return cache;
  };

  it('an invalidation on one replica drops the entry on the other', async () => {
    const tenant = `T${Date.now()}${Math.random()}`;
    const a = await replica();
    const b = await replica();
    b.set('k', entry(tenant), b.generation());
    expect(b.get('k')).toBeDefined();
    await a.invalidateTenant(tenant);
    // Pub/sub is asynchronous: wait (bounded) for the message to arrive.
    for (let i = 0; i < 100 && b.get('k') !== undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(b.get('k')).toBeUndefined();
  });

  it('a dropped subscription empties the cache, caches nothing until back, then works again', async () => {
    const tenant = `T${Date.now()}${Math.random()}`;
    const a = await replica();
    const b = await replica();
    b.set('k', entry(tenant), b.generation());
    // Kill b's subscriber connection from the server side (only that one client).
    const admin = new Redis(REDIS_URL);
    clients.push(admin);
    const list = (await admin.client('LIST')) as string;
    const line = list.split('\n').find((l) => l.includes(`name=${b.subscriberName} `));
    const id = line && /id=(\d+)/.exec(line)?.[1];
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', String(id));
    for (let i = 0; i < 200 && b.get('k') !== undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(b.get('k')).toBeUndefined();
    // Back (ioredis reconnects and resubscribes): caching resumes and invalidations arrive.
    for (let i = 0; i < 300 && !b.enabled; i++) await new Promise((r) => setTimeout(r, 10));
    expect(b.enabled).toBe(true);
    b.set('k2', entry(tenant), b.generation());
    expect(b.get('k2')).toBeDefined();
    for (let i = 0; i < 100 && b.get('k2') !== undefined; i++) {
      await a.invalidateTenant(tenant);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(b.get('k2')).toBeUndefined();
  });
});

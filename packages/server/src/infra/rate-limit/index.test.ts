import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryRateLimiter, type RateLimiter, RedisRateLimiter } from './index.js';

const redisUrl = process.env.REDIS_URL;
const redis = redisUrl
  ? new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 })
  : undefined;
afterAll(async () => {
  await redis?.quit();
});

const impls: Array<[string, () => RateLimiter]> = [['memory', () => new MemoryRateLimiter()]];
if (redis) impls.push(['redis', () => new RedisRateLimiter(redis, `astrdesk:test:${Date.now()}:`)]);

describe.each(impls)('%s token bucket', (_name, make) => {
  it('lets a burst up to the limit through, then refuses with a retry time', async () => {
    const rl = make();
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) expect((await rl.take('k', 5, t0)).allowed).toBe(true);
    const refused = await rl.take('k', 5, t0);
    expect(refused.allowed).toBe(false);
    expect(refused.remaining).toBe(0);
    // 5 per minute refills one token every 12 s.
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(12_000);
  });

  it('refills with time and keeps keys apart', async () => {
    const rl = make();
    const t0 = 2_000_000;
    for (let i = 0; i < 2; i++) await rl.take('a', 2, t0);
    expect((await rl.take('a', 2, t0)).allowed).toBe(false);
    expect((await rl.take('b', 2, t0)).allowed).toBe(true);
    expect((await rl.take('a', 2, t0 + 30_000)).allowed).toBe(true);
    expect((await rl.take('a', 2, t0 + 30_000)).allowed).toBe(false);
  });
});

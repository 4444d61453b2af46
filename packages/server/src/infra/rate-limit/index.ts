import type { Redis } from 'ioredis';

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** When not allowed: how long until one token is back. */
  retryAfterMs: number;
}

/**
 * A token bucket per key: `perMinute` tokens of capacity, refilled continuously at
 * `perMinute / 60` per second, so short bursts up to the limit pass and a steady rate above
 * it is refused.
 */
export interface RateLimiter {
  take(key: string, perMinute: number, now?: number): Promise<RateLimitDecision>;
  close?(): Promise<void>;
}

function refill(tokens: number, updated: number, now: number, perMinute: number) {
  return Math.min(perMinute, tokens + ((now - updated) * perMinute) / 60_000);
}

/** In-process buckets: right for one server process. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; updated: number }>();
  readonly #maxKeys: number;

  constructor(opts: { maxKeys?: number } = {}) {
    this.#maxKeys = opts.maxKeys ?? 100_000;
  }

  async take(key: string, perMinute: number, now = Date.now()): Promise<RateLimitDecision> {
    const b = this.#buckets.get(key);
    let tokens = b ? refill(b.tokens, b.updated, now, perMinute) : perMinute;
    const allowed = tokens >= 1;
    if (allowed) tokens -= 1;
    if (!b && this.#buckets.size >= this.#maxKeys) {
      // Full buckets carry no information; drop the oldest entry rather than grow forever.
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    this.#buckets.set(key, { tokens, updated: now });
    return {
      allowed,
      limit: perMinute,
      remaining: Math.floor(tokens),
      retryAfterMs: allowed ? 0 : Math.ceil(((1 - tokens) * 60_000) / perMinute),
    };
  }
}

// KEYS[1] bucket; ARGV: perMinute, now(ms). Atomic read-refill-take-write in Redis.
const TAKE_LUA = `
local cap = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens = tonumber(b[1])
local updated = tonumber(b[2])
if tokens == nil then tokens = cap; updated = now end
tokens = math.min(cap, tokens + (math.max(0, now - updated) * cap) / 60000)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(now))
redis.call('PEXPIRE', KEYS[1], 120000)
return {allowed, tostring(tokens)}
`;

/** Buckets in Redis, shared by every server replica. */
export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'astrdesk:',
  ) {
    redis.defineCommand('astrdeskTakeToken', { numberOfKeys: 1, lua: TAKE_LUA });
  }

  async take(key: string, perMinute: number, now = Date.now()): Promise<RateLimitDecision> {
    const cmd = (
      this.redis as unknown as Record<string, (...a: unknown[]) => Promise<[number, string]>>
    ).astrdeskTakeToken!;
    const [allowed, tokensStr] = await cmd.call(this.redis, `${this.prefix}${key}`, perMinute, now);
    const tokens = Number(tokensStr);
    return {
      allowed: allowed === 1,
      limit: perMinute,
      remaining: Math.floor(tokens),
      retryAfterMs: allowed === 1 ? 0 : Math.ceil(((1 - tokens) * 60_000) / perMinute),
    };
  }
}

import type { Redis } from 'ioredis';

/** Redis channel on which replicas tell each other a tenant's credentials changed. */
export const INVALIDATE_CHANNEL = 'astrdesk:auth:invalidate';

let subscribers = 0;

interface Entry<T> {
  value: T;
  tenantId: string;
  until: number;
}

export interface CredentialCacheOptions {
  /** How long a resolved credential is reused without asking the database (ms); 0 turns the cache off. */
  ttlMs: number;
  /** Most credentials kept; the least recently stored is dropped first. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Resolved credentials (API keys, member sessions) by token hash, so an authenticated request
 * does not pay a database round trip. Correctness does not rest on the TTL: every write that
 * can change what a credential may do (revoke, logout, role or disabled change, tenant status)
 * calls {@link invalidateTenant} after it commits, which drops the tenant's entries here and,
 * through Redis, on every other replica. The TTL only bounds staleness if such a message is
 * lost (Redis down). Expiry is still checked by the caller on every request from the cached
 * row, so an expiring key stops at its `expires_at` to the millisecond.
 *
 * A lookup that started before an invalidation must not put its (possibly stale) row back
 * afterwards: {@link generation} is read before the query and {@link set} ignores the row when
 * any invalidation happened in between.
 *
 * @example
 * const gen = cache.generation();
 * const hit = cache.get(hash) ?? cache.set(hash, await query(hash), gen);
 */
export class CredentialCache<T extends { tenantId: string }> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  #generation = 0;
  #pub: Redis | undefined;
  #sub: Redis | undefined;

  constructor(opts: CredentialCacheOptions) {
    this.#ttlMs = opts.ttlMs;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  generation(): number {
    return this.#generation;
  }

  get(hash: string): T | undefined {
    const e = this.#entries.get(hash);
    if (e === undefined) return undefined;
    if (e.until <= this.#now()) {
      this.#entries.delete(hash);
      return undefined;
    }
    return e.value;
  }

  /** Stores `value` unless an invalidation happened since `generation` was read. */
  set(hash: string, value: T, generation: number): T {
    if (!this.enabled || generation !== this.#generation) return value;
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(hash, { value, tenantId: value.tenantId, until: this.#now() + this.#ttlMs });
    return value;
  }

  /**
   * Forgets every cached credential of `tenantId` here and asks the other replicas to do the
   * same. Call it after the write that changed a credential has committed.
   */
  async invalidateTenant(tenantId: string): Promise<void> {
    this.#dropTenant(tenantId);
    await this.#pub?.publish(INVALIDATE_CHANNEL, tenantId).catch(() => {});
  }

  #dropTenant(tenantId: string): void {
    this.#generation++;
    for (const [hash, e] of this.#entries) if (e.tenantId === tenantId) this.#entries.delete(hash);
  }

  /**
   * Shares invalidations with other replicas through Redis. Until the subscription is up and
   * whenever Redis is unreachable, nothing is cached: a missed invalidation would otherwise
   * let a revoked key work for up to the TTL.
   */
  async connect(redis: Redis): Promise<void> {
    this.#pub = redis;
    this.subscriberName = `astrdesk-auth-${process.pid}-${++subscribers}`;
    const sub = redis.duplicate({ connectionName: this.subscriberName });
    this.#sub = sub;
    const healthy = () => sub.status === 'ready';
    sub.on('message', (_channel: string, tenantId: string) => this.#dropTenant(tenantId));
    sub.on('error', () => {});
    // Any gap in the subscription may have lost messages: start from empty.
    sub.on('ready', () => this.clear());
    sub.on('close', () => this.clear());
    await sub.subscribe(INVALIDATE_CHANNEL);
    this.#healthy = healthy;
  }

  #healthy: () => boolean = () => true;

  /** Redis CLIENT name of the invalidation subscriber (for operators reading CLIENT LIST). */
  subscriberName: string | undefined;

  /** Whether entries may be stored now (false while the invalidation feed is down). */
  get enabled(): boolean {
    return this.#ttlMs > 0 && this.#healthy();
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  async close(): Promise<void> {
    this.clear();
    const sub = this.#sub;
    this.#sub = undefined;
    this.#pub = undefined;
    this.#healthy = () => true;
    await sub?.quit().catch(() => {});
  }
}

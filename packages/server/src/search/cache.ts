/**
 * A short-lived, per-tenant cache of search answers. Each tenant has a generation number;
 * any new message in the tenant bumps it (through the event bus, so every replica hears it),
 * which makes every cached answer of that tenant unreachable at once.
 */
export class SearchCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #generation = new Map<string, number>();

  constructor(
    private readonly ttlMs = 10_000,
    private readonly maxEntries = 5_000,
  ) {}

  #key(tenantId: string, key: string) {
    return `${tenantId}\0${this.#generation.get(tenantId) ?? 0}\0${key}`;
  }

  get(tenantId: string, key: string, now: number): V | undefined {
    const k = this.#key(tenantId, key);
    const e = this.#entries.get(k);
    if (!e) return undefined;
    if (e.expires <= now) {
      this.#entries.delete(k);
      return undefined;
    }
    return e.value;
  }

  set(tenantId: string, key: string, value: V, now: number): void {
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(this.#key(tenantId, key), { value, expires: now + this.ttlMs });
  }

  invalidate(tenantId: string): void {
    this.#generation.set(tenantId, (this.#generation.get(tenantId) ?? 0) + 1);
  }

  get size() {
    return this.#entries.size;
  }
}

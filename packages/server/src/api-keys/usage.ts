import type { Db } from '../infra/db/index.js';

const MINUTE = 60_000;

/**
 * Counts API-key calls per key per minute. Counting happens in memory on the request path
 * (no write per request); `flush()` adds the counts to `api_key_usage` with an upsert, so
 * several server replicas add up instead of overwriting each other.
 */
export class UsageRecorder {
  readonly #counts = new Map<
    string,
    { keyId: string; tenantId: string; minute: number; count: number }
  >();
  readonly #lastUsed = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly db: Db) {}

  record(keyId: string, tenantId: string, now: number): void {
    const minute = Math.floor(now / MINUTE) * MINUTE;
    const k = `${keyId}\0${minute}`;
    const entry = this.#counts.get(k);
    if (entry) entry.count++;
    else this.#counts.set(k, { keyId, tenantId, minute, count: 1 });
    const last = this.#lastUsed.get(keyId);
    if (last === undefined || now > last) this.#lastUsed.set(keyId, now);
  }

  /** Writes buffered counts. Concurrent calls queue, so a count is written once. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushNow()).catch(() => {});
    return this.#flushing;
  }

  async #flushNow(): Promise<void> {
    if (this.#counts.size === 0 && this.#lastUsed.size === 0) return;
    const counts = [...this.#counts.values()];
    const lastUsed = [...this.#lastUsed.entries()];
    this.#counts.clear();
    this.#lastUsed.clear();
    try {
      await this.db.transaction().execute(async (tx) => {
        for (const c of counts) {
          await tx
            .insertInto('api_key_usage')
            .values({ key_id: c.keyId, tenant_id: c.tenantId, minute: c.minute, count: c.count })
            .onConflict((oc) =>
              oc.columns(['key_id', 'minute']).doUpdateSet((eb) => ({
                count: eb('api_key_usage.count', '+', eb.ref('excluded.count')),
              })),
            )
            .execute();
        }
        for (const [keyId, at] of lastUsed) {
          await tx
            .updateTable('api_keys')
            .set({ last_used_at: at })
            .where('id', '=', keyId)
            .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
            .execute();
        }
      });
    } catch (err) {
      // Keep the counts for the next flush rather than lose them.
      for (const c of counts) {
        const k = `${c.keyId}\0${c.minute}`;
        const e = this.#counts.get(k);
        if (e) e.count += c.count;
        else this.#counts.set(k, c);
      }
      for (const [keyId, at] of lastUsed) {
        if ((this.#lastUsed.get(keyId) ?? 0) < at) this.#lastUsed.set(keyId, at);
      }
      throw err;
    }
  }

  start(intervalMs = 1000): void {
    this.#timer ??= setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}

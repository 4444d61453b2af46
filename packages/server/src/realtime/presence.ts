import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Services } from '../infra/services.js';
import type { Viewer } from './auth.js';

/** A socket opened or closed; what presence (and metrics) listen to. */
export interface ConnectionChange {
  type: 'connected' | 'disconnected';
  tenantId: string;
  principal: { kind: string; id: string };
  /** The agent the socket counts towards (member sessions); undefined for API keys. */
  memberId: string | undefined;
  /**
   * For members: `agent_presence.connections` after this change — the member's open sockets
   * across every replica. Undefined for API keys, or when the database write failed.
   */
  memberConnections: number | undefined;
  /** The close code, for `disconnected`. */
  code: number | undefined;
}

export type ConnectionListener = (change: ConnectionChange) => void;

/**
 * Counts members' sockets in `agent_presence` (`connections`, `heartbeat_at`): +1 on connect
 * (inserting the row as `online` when the member has none), -1 on close, and `heartbeat_at`
 * refreshed for every connected member on each heartbeat. Counters are atomic increments, so
 * replicas add up; a replica that dies without closing leaves its count behind, which is why
 * readers should treat a row whose `heartbeat_at` is older than two heartbeat intervals as
 * having no connections.
 *
 * Writes for one member run one after another, so a short-lived socket's -1 never lands
 * before its +1.
 */
export class PresenceTracker {
  readonly #chains = new Map<string, Promise<void>>();
  readonly #listeners = new Set<ConnectionListener>();

  constructor(
    private readonly s: Services,
    private readonly log: Logger,
  ) {}

  onChange(listener: ConnectionListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  connected(v: Viewer): void {
    this.#change(v, 'connected', undefined);
  }

  disconnected(v: Viewer, code: number): void {
    this.#change(v, 'disconnected', code);
  }

  #change(v: Viewer, type: ConnectionChange['type'], code: number | undefined) {
    const memberId = v.memberId;
    const base = {
      type,
      tenantId: v.tenantId,
      principal: { kind: v.kind, id: v.id },
      memberId,
      code,
    };
    if (memberId === undefined) {
      this.#emit({ ...base, memberConnections: undefined });
      return;
    }
    this.#serial(memberId, async () => {
      let n: number | undefined;
      try {
        n =
          type === 'connected'
            ? await this.#increment(memberId, v.tenantId)
            : await this.#decrement(memberId);
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message, member_id: memberId },
          'presence update failed',
        );
      }
      this.#emit({ ...base, memberConnections: n });
    });
  }

  async #increment(memberId: string, tenantId: string): Promise<number> {
    const now = this.s.now();
    const row = await this.s.db
      .insertInto('agent_presence')
      .values({
        member_id: memberId,
        tenant_id: tenantId,
        explicit_status: 'online',
        connections: 1,
        heartbeat_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.column('member_id').doUpdateSet((eb) => ({
          connections: eb('agent_presence.connections', '+', 1),
          heartbeat_at: now,
        })),
      )
      .returning('connections')
      .executeTakeFirstOrThrow();
    return Number(row.connections);
  }

  async #decrement(memberId: string): Promise<number> {
    const row = await this.s.db
      .updateTable('agent_presence')
      .set({
        connections: sql<number>`case when connections > 0 then connections - 1 else 0 end`,
        heartbeat_at: this.s.now(),
      })
      .where('member_id', '=', memberId)
      .returning('connections')
      .executeTakeFirst();
    return row ? Number(row.connections) : 0;
  }

  /** Refreshes `heartbeat_at` of members connected here. */
  heartbeat(memberIds: Iterable<string>): void {
    const ids = [...new Set(memberIds)];
    if (ids.length === 0) return;
    const now = this.s.now();
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      this.#serial(`heartbeat:${i}`, async () => {
        await this.s.db
          .updateTable('agent_presence')
          .set({ heartbeat_at: now })
          .where('member_id', 'in', part)
          .execute()
          .catch((err: Error) => this.log.warn({ err: err.message }, 'presence heartbeat failed'));
      });
    }
  }

  #serial(key: string, fn: () => Promise<void>) {
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn).catch(() => {});
    this.#chains.set(key, next);
    void next.then(() => {
      if (this.#chains.get(key) === next) this.#chains.delete(key);
    });
  }

  #emit(change: ConnectionChange) {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'realtime connection listener threw');
      }
    }
  }

  /** Resolves when every queued presence write has finished. */
  async idle(): Promise<void> {
    while (this.#chains.size > 0) await Promise.allSettled([...this.#chains.values()]);
  }
}

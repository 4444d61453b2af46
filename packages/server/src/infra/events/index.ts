import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { EventType } from '@astrdesk/protocol';
import type { Redis } from 'ioredis';
import { newId } from '../crypto/index.js';
import { compileOnce, insertRows, runCompiled } from '../db/compiled.js';
import { type Db, iso, type Tx } from '../db/index.js';

/** One entry of a tenant's event log. */
export interface LoggedEvent {
  tenantId: string;
  seq: number;
  id: string;
  type: EventType;
  data: Record<string, unknown>;
  /** `all`, or `admin` for events only owners/admins may see (blocked messages). */
  visibility: 'all' | 'admin';
  createdAt: number;
}

/** The wire envelope `{ seq, id, type, data, created_at }` of realtime and webhooks. */
export function toEnvelope(e: LoggedEvent) {
  return { seq: e.seq, id: e.id, type: e.type, data: e.data, created_at: iso(e.createdAt) };
}

export type Emit = (
  type: EventType,
  data: Record<string, unknown>,
  opts?: { visibility?: 'all' | 'admin' },
) => Promise<LoggedEvent>;

export interface EmitItem {
  type: EventType;
  data: Record<string, unknown>;
  visibility?: 'all' | 'admin';
}

/**
 * Appends several events at once, in order, with consecutive seqs: one counter update and
 * multi-row inserts instead of two statements per event (batch ingest).
 */
export type EmitMany = (items: readonly EmitItem[]) => Promise<LoggedEvent[]>;

/**
 * Fan-out of committed events to whoever listens in this process (realtime hub, webhook
 * worker). With Redis, events written on one replica reach listeners on every replica.
 */
export interface EventBus {
  publish(events: LoggedEvent[]): Promise<void>;
  subscribe(listener: (e: LoggedEvent) => void): () => void;
  close(): Promise<void>;
}

export class MemoryBus implements EventBus {
  readonly #emitter = new EventEmitter().setMaxListeners(0);
  async publish(events: LoggedEvent[]) {
    for (const e of events) this.#emitter.emit('event', e);
  }
  subscribe(listener: (e: LoggedEvent) => void) {
    this.#emitter.on('event', listener);
    return () => void this.#emitter.off('event', listener);
  }
  async close() {
    this.#emitter.removeAllListeners();
  }
}

/**
 * Redis pub/sub on `astrdesk:t:{tenant}:events` (pattern-subscribed). Listeners in this
 * process hear an event as soon as it is published (so a request that wrote it can rely on,
 * say, the search cache being invalidated before it answers); other replicas hear it through
 * Redis, and this replica skips its own echo.
 */
export class RedisBus implements EventBus {
  readonly #local = new MemoryBus();
  readonly #sub: Redis;
  readonly #ready: Promise<unknown>;
  readonly #origin = randomUUID();

  constructor(private readonly pub: Redis) {
    this.#sub = pub.duplicate();
    this.#sub.on('error', () => {});
    this.#ready = this.#sub.psubscribe('astrdesk:t:*:events');
    this.#sub.on('pmessage', (_p, _channel, message) => {
      try {
        const { o, e } = JSON.parse(message) as { o: string; e: LoggedEvent };
        if (o !== this.#origin) void this.#local.publish([e]);
      } catch {
        /* a foreign message on our channel: ignore */
      }
    });
  }

  async publish(events: LoggedEvent[]) {
    if (events.length === 0) return;
    await this.#local.publish(events);
    const pipe = this.pub.pipeline();
    for (const e of events)
      pipe.publish(`astrdesk:t:${e.tenantId}:events`, JSON.stringify({ o: this.#origin, e }));
    await pipe.exec();
  }
  subscribe(listener: (e: LoggedEvent) => void) {
    return this.#local.subscribe(listener);
  }
  /** Resolves once the subscription is active (tests wait for it). */
  ready() {
    return this.#ready;
  }
  async close() {
    await this.#local.close();
    await this.#sub.quit().catch(() => {});
  }
}

type Row = {
  tenant_id: string;
  seq: number;
  id: string;
  type: string;
  data: string;
  visibility: string;
  created_at: number;
};
const fromRow = (r: Row): LoggedEvent => ({
  tenantId: r.tenant_id,
  seq: Number(r.seq),
  id: r.id,
  type: r.type as EventType,
  data: JSON.parse(r.data) as Record<string, unknown>,
  visibility: r.visibility === 'admin' ? 'admin' : 'all',
  createdAt: Number(r.created_at),
});

const EVENT_COLUMNS = ['tenant_id', 'seq', 'id', 'type', 'data', 'visibility', 'created_at'];

/**
 * A hook run inside the appending transaction, e.g. to enqueue webhook deliveries. It gets all
 * the events one append wrote (a whole ingest batch at once), oldest first.
 */
export type AppendHook = (tx: Tx, events: readonly LoggedEvent[]) => Promise<void>;

/**
 * The per-tenant, gap-free, ordered event log. Every change appends in the same transaction
 * as the change itself (`transact`), so the log never shows a change that did not commit and
 * never misses one that did; listeners hear about it only after the commit.
 */
export class EventLog {
  readonly #hooks: AppendHook[] = [];

  constructor(
    private readonly db: Db,
    readonly bus: EventBus,
    private readonly now: () => number,
  ) {}

  onAppend(hook: AppendHook): void {
    this.#hooks.push(hook);
  }

  /**
   * Runs `fn` in a transaction with an `emit` that appends events for `tenantId` (and an
   * `emitMany` that appends several in one go); publishes them after the commit.
   *
   * @example
   * await events.transact(tenantId, async (tx, emit) => {
   *   await tx.updateTable('conversations').set({ state: 'closed' }).where(...).execute();
   *   await emit('conversation.state_changed', { conversation: c, from: 'active', to: 'closed' });
   * });
   */
  async transact<T>(
    tenantId: string,
    fn: (tx: Tx, emit: Emit, emitMany: EmitMany) => Promise<T>,
  ): Promise<T> {
    const appended: LoggedEvent[] = [];
    const result = await this.db.transaction().execute(async (tx) => {
      const emit: Emit = async (type, data, opts) => {
        const e = await this.append(tx, tenantId, type, data, opts?.visibility ?? 'all');
        appended.push(e);
        return e;
      };
      const emitMany: EmitMany = async (items) => {
        const es = await this.appendMany(tx, tenantId, items);
        for (const e of es) appended.push(e);
        return es;
      };
      return fn(tx, emit, emitMany);
    });
    if (appended.length > 0) await this.bus.publish(appended).catch(() => {});
    return result;
  }

  /**
   * Takes `n` seqs for `tenantId` and returns the last. The counter row stays locked for the
   * rest of the transaction, so seqs are handed out in commit order with no gaps (a rollback
   * returns the numbers).
   */
  async #reserve(tx: Tx, tenantId: string, n: number): Promise<number> {
    const q = compileOnce(this.db, 'events:reserve', 3, (db) =>
      db
        .insertInto('event_counters')
        .values({ tenant_id: '', last_seq: 1 })
        .onConflict((oc) =>
          oc
            .column('tenant_id')
            .doUpdateSet((eb) => ({ last_seq: eb('event_counters.last_seq', '+', 1) })),
        )
        .returning('last_seq'),
    );
    const [row] = await runCompiled<{ last_seq: number }>(tx, q, [tenantId, n, n]);
    return Number(row!.last_seq);
  }

  async append(
    tx: Tx,
    tenantId: string,
    type: EventType,
    data: Record<string, unknown>,
    visibility: 'all' | 'admin' = 'all',
  ): Promise<LoggedEvent> {
    const [e] = await this.appendMany(tx, tenantId, [{ type, data, visibility }]);
    return e!;
  }

  /** Appends `items` in order with consecutive seqs, then runs the append hooks for each. */
  async appendMany(tx: Tx, tenantId: string, items: readonly EmitItem[]): Promise<LoggedEvent[]> {
    if (items.length === 0) return [];
    const last = await this.#reserve(tx, tenantId, items.length);
    const first = last - items.length + 1;
    const events: LoggedEvent[] = [];
    const rows: unknown[][] = [];
    for (let i = 0; i < items.length; i++) {
      const { type, data, visibility = 'all' } = items[i]!;
      const now = this.now();
      const e: LoggedEvent = {
        tenantId,
        seq: first + i,
        id: newId('event', now),
        type,
        data,
        visibility,
        createdAt: now,
      };
      events.push(e);
      rows.push([tenantId, e.seq, e.id, type, JSON.stringify(data), visibility, now]);
    }
    await insertRows(this.db, tx, 'events', EVENT_COLUMNS, rows);
    for (const hook of this.#hooks) await hook(tx, events);
    return events;
  }

  /** Events after `afterSeq`, oldest first. */
  async read(tenantId: string, afterSeq: number, limit = 500): Promise<LoggedEvent[]> {
    const rows = await this.db
      .selectFrom('events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('seq', '>', afterSeq)
      .orderBy('seq', 'asc')
      .limit(limit)
      .execute();
    return rows.map(fromRow);
  }

  async lastSeq(tenantId: string): Promise<number> {
    const r = await this.db
      .selectFrom('event_counters')
      .select('last_seq')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return r ? Number(r.last_seq) : 0;
  }

  /** The oldest seq still in the log (retention trims older ones); 0 when empty. */
  async firstSeq(tenantId: string): Promise<number> {
    const r = await this.db
      .selectFrom('events')
      .select((eb) => eb.fn.min('seq').as('s'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return r?.s == null ? 0 : Number(r.s);
  }

  /** Drops events older than `olderThanMs`; resuming from before them then needs a resync. */
  async trim(olderThanMs: number): Promise<number> {
    const r = await this.db
      .deleteFrom('events')
      .where('created_at', '<', this.now() - olderThanMs)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

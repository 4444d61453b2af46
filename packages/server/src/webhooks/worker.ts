/**
 * Webhook deliveries: queued in the same transaction as the event that causes them
 * ({@link enqueueDeliveries}), then sent by a worker that leases due rows, POSTs the signed
 * event envelope and records every attempt.
 *
 * Leases: a worker claims a delivery by setting `locked_until = now + LEASE_MS` in an UPDATE
 * guarded by the row's previous values (PostgreSQL: the claim selects with
 * `FOR UPDATE SKIP LOCKED`), and writes the outcome only while it still holds that exact
 * lease. So two workers — in one process or on several replicas — never send the same
 * attempt, and a worker that died mid-send releases its deliveries when the lease expires.
 */
import { type EventType, WEBHOOK_SIGNATURE_HEADER } from '@astrdesk/protocol';
import { insertRows } from '../infra/db/compiled.js';
import type { Db, Tx } from '../infra/db/index.js';
import type { WebhookDeliveriesTable } from '../infra/db/schema.js';
import { type LoggedEvent, toEnvelope } from '../infra/events/index.js';
import type { Services } from '../infra/services.js';
import { webhookId } from './ids.js';
import { sendWebhook } from './send.js';
import { signPayload } from './signature.js';
import type { Resolver } from './target.js';

/** Per-request timeout. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** How long a claimed delivery stays reserved for the worker that claimed it. */
export const LEASE_MS = 60_000;
/** First retry delay; each later one doubles. */
export const RETRY_BASE_MS = 30_000;
/** No single wait between attempts is longer than this. */
export const RETRY_MAX_STEP_MS = 60 * 60_000;
/** Delay is scaled by a random factor in [1 - RETRY_JITTER, 1] so retries spread out. */
export const RETRY_JITTER = 0.2;
/** A delivery still failing this long after it was queued is given up (status `failed`). */
export const RETRY_WINDOW_MS = 24 * 60 * 60_000;
/** The worker also looks for due deliveries this often, besides being nudged by new events. */
export const POLL_INTERVAL_MS = 5_000;
/** Deliveries claimed (and sent concurrently) at a time. */
export const CLAIM_BATCH = 20;
/** Bound on batches per pass, so one pass cannot run forever. */
const MAX_BATCHES_PER_PASS = 100;

export const USER_AGENT = 'AstrDesk-Webhooks/1';

/**
 * Wait before the next attempt after `attempts` failed ones: 30 s, 1 min, 2 min, 4 min, …
 * capped at 1 h, minus up to 20 % jitter.
 */
export function retryDelay(attempts: number, random: () => number = Math.random): number {
  const step = Math.min(RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1), RETRY_MAX_STEP_MS);
  return Math.round(step * (1 - RETRY_JITTER * random()));
}

/** Whether an endpoint's `events` list (JSON text) covers `type`. */
export function subscribes(events: string, type: EventType): boolean {
  try {
    const list = JSON.parse(events) as unknown;
    return Array.isArray(list) && (list.includes('*') || list.includes(type));
  } catch {
    return false;
  }
}

/**
 * Queues one pending delivery per enabled endpoint of the event's tenant subscribed to its
 * type (or `*`), inside the event's own transaction. Events of every visibility are
 * delivered: webhooks are tenant-level integrations, not agent views.
 */
export async function enqueueDeliveries(
  db: Db,
  tx: Tx,
  events: readonly LoggedEvent[],
  now: number,
): Promise<number> {
  const tenantId = events[0]?.tenantId;
  if (tenantId === undefined) return 0;
  // One read of the tenant's endpoints for all the events of an append (an ingest batch
  // appends hundreds), then one multi-row insert.
  const endpoints = await tx
    .selectFrom('webhook_endpoints')
    .select(['id', 'events'])
    .where('tenant_id', '=', tenantId)
    .where('enabled', '=', 1)
    .execute();
  if (endpoints.length === 0) return 0;
  const rows: unknown[][] = [];
  for (const e of events) {
    for (const ep of endpoints) {
      if (!subscribes(ep.events, e.type)) continue;
      rows.push([
        webhookId('delivery', now),
        e.tenantId,
        ep.id,
        e.seq,
        e.id,
        e.type,
        'pending',
        0,
        now,
        now,
        now,
      ]);
    }
  }
  await insertRows(db, tx, 'webhook_deliveries', DELIVERY_COLUMNS, rows);
  return rows.length;
}

// Columns a new delivery sets; the rest (lease, status code, error, delivered_at) start null.
const DELIVERY_COLUMNS = [
  'id',
  'tenant_id',
  'endpoint_id',
  'event_seq',
  'event_id',
  'event_type',
  'status',
  'attempts',
  'next_attempt_at',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof WebhookDeliveriesTable)[];

export interface WebhookWorker {
  /** Sends every delivery due now (waiting for a pass already running); resolves to the number of attempts made. */
  runOnce(): Promise<number>;
  /** Asks for a pass soon (new events, a redeliver). */
  nudge(): void;
  /** Starts polling and listening to the event bus. */
  start(): void;
  /** Stops the loop and waits for in-flight sends. `runOnce` still works afterwards. */
  stop(): Promise<void>;
}

export interface WorkerOptions {
  /** DNS resolver used at send time (tests inject one). */
  resolve?: Resolver;
  random?: () => number;
  pollIntervalMs?: number;
}

interface Claimed {
  id: string;
  lease: number;
}

type EventRow = {
  seq: number;
  id: string;
  type: string;
  data: string;
  visibility: string;
  created_at: number;
};

export function createDeliveryWorker(s: Services, opts: WorkerOptions = {}): WebhookWorker {
  const db: Db = s.db;
  const log = s.log.child({ component: 'webhooks' });
  const random = opts.random ?? Math.random;
  const pollMs = opts.pollIntervalMs ?? POLL_INTERVAL_MS;

  // --- claiming ---------------------------------------------------------------------------

  async function claim(now: number): Promise<Claimed[]> {
    const lease = now + LEASE_MS;
    if (s.database.kind === 'postgres') {
      const rows = await db
        .updateTable('webhook_deliveries')
        .set({ locked_until: lease })
        .where((eb) =>
          eb(
            'id',
            'in',
            eb
              .selectFrom('webhook_deliveries as d')
              .select('d.id')
              .where('d.status', '=', 'pending')
              .where('d.next_attempt_at', '<=', now)
              .where((w) => w.or([w('d.locked_until', 'is', null), w('d.locked_until', '<', now)]))
              .where((w) =>
                w.exists(
                  w
                    .selectFrom('webhook_endpoints as e')
                    .select('e.id')
                    .whereRef('e.id', '=', 'd.endpoint_id')
                    .where('e.enabled', '=', 1),
                ),
              )
              .orderBy('d.next_attempt_at')
              .limit(CLAIM_BATCH)
              .forUpdate()
              .skipLocked(),
          ),
        )
        // Re-checked on the locked row version.
        .where('status', '=', 'pending')
        .where((w) => w.or([w('locked_until', 'is', null), w('locked_until', '<', now)]))
        .returning('id')
        .execute();
      return rows.map((r) => ({ id: r.id, lease }));
    }
    const candidates = await db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .select(['d.id', 'd.locked_until', 'd.attempts'])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      .where((w) => w.or([w('d.locked_until', 'is', null), w('d.locked_until', '<', now)]))
      .where('e.enabled', '=', 1)
      .orderBy('d.next_attempt_at')
      .limit(CLAIM_BATCH)
      .execute();
    const claimed: Claimed[] = [];
    for (const c of candidates) {
      const prev = c.locked_until;
      const r = await db
        .updateTable('webhook_deliveries')
        .set({ locked_until: lease })
        .where('id', '=', c.id)
        .where('status', '=', 'pending')
        .where('attempts', '=', c.attempts)
        .where((w) =>
          prev === null ? w('locked_until', 'is', null) : w('locked_until', '=', prev),
        )
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) claimed.push({ id: c.id, lease });
    }
    return claimed;
  }

  // --- one attempt ------------------------------------------------------------------------

  async function attempt(c: Claimed): Promise<boolean> {
    const job = await db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', (j) =>
        j.onRef('e.id', '=', 'd.endpoint_id').onRef('e.tenant_id', '=', 'd.tenant_id'),
      )
      .selectAll('d')
      .select(['e.url', 'e.secret_encrypted'])
      .where('d.id', '=', c.id)
      .where('d.locked_until', '=', c.lease)
      .executeTakeFirst();
    if (!job) return false; // endpoint deleted meanwhile, or lease lost
    const ev = (await db
      .selectFrom('events')
      .select(['seq', 'id', 'type', 'data', 'visibility', 'created_at'])
      .where('tenant_id', '=', job.tenant_id)
      .where('seq', '=', job.event_seq)
      .executeTakeFirst()) as EventRow | undefined;

    const startedAt = s.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    let durationMs = 0;
    let refused = false;
    if (!ev || ev.id !== job.event_id) {
      error = 'event is no longer in the event log';
    } else {
      let secret: string | undefined;
      try {
        secret = s.secrets.decrypt(job.secret_encrypted, job.tenant_id);
      } catch {
        error = 'signing secret could not be decrypted';
      }
      if (secret !== undefined) {
        const event: LoggedEvent = {
          tenantId: job.tenant_id,
          seq: Number(ev.seq),
          id: ev.id,
          type: ev.type as EventType,
          data: JSON.parse(ev.data) as Record<string, unknown>,
          visibility: ev.visibility === 'admin' ? 'admin' : 'all',
          createdAt: Number(ev.created_at),
        };
        const body = JSON.stringify(toEnvelope(event));
        const r = await sendWebhook({
          url: job.url,
          body,
          headers: {
            'content-type': 'application/json',
            'user-agent': USER_AGENT,
            [WEBHOOK_SIGNATURE_HEADER]: signPayload(secret, body, Math.floor(startedAt / 1000)),
            'AstrDesk-Event-Id': event.id,
            'AstrDesk-Event-Type': event.type,
            'AstrDesk-Delivery-Id': job.id,
          },
          timeoutMs: DELIVERY_TIMEOUT_MS,
          allowPrivate: s.config.WEBHOOK_ALLOW_PRIVATE_TARGETS,
          ...(opts.resolve ? { resolve: opts.resolve } : {}),
        });
        ({ statusCode, error, durationMs, refused } = r);
      }
    }

    const finishedAt = s.now();
    const attempts = job.attempts + 1;
    const succeeded =
      error === null && statusCode !== null && statusCode >= 200 && statusCode < 300;
    const givenUp = !succeeded && (!ev || finishedAt - job.created_at >= RETRY_WINDOW_MS);
    const outcome = succeeded ? 'succeeded' : givenUp ? 'failed' : 'pending';
    const nextAttemptAt = outcome === 'pending' ? finishedAt + retryDelay(attempts, random) : null;

    const recorded = await db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable('webhook_deliveries')
        .set({
          status: outcome,
          attempts,
          next_attempt_at: nextAttemptAt,
          locked_until: null,
          last_status_code: statusCode,
          last_error: error,
          ...(succeeded ? { delivered_at: finishedAt } : {}),
          updated_at: finishedAt,
        })
        .where('id', '=', job.id)
        .where('locked_until', '=', c.lease)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await tx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: job.id,
          status_code: statusCode,
          error,
          duration_ms: durationMs,
          created_at: startedAt,
        })
        .execute();
      return true;
    });

    const line = {
      event: 'webhook.attempt',
      tenant_id: job.tenant_id,
      endpoint_id: job.endpoint_id,
      delivery_id: job.id,
      event_id: job.event_id,
      event_type: job.event_type,
      attempt: attempts,
      status_code: statusCode,
      error,
      refused,
      ms: durationMs,
      outcome,
      ...(nextAttemptAt !== null ? { next_attempt_in_ms: nextAttemptAt - finishedAt } : {}),
      ...(recorded ? {} : { recorded: false }),
    };
    if (succeeded) log.info(line, 'webhook delivered');
    else log.warn(line, 'webhook attempt failed');
    return true;
  }

  // --- passes and the loop ----------------------------------------------------------------

  async function pass(): Promise<number> {
    let made = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_PASS; batch++) {
      const claimed = await claim(s.now());
      if (claimed.length === 0) break;
      const results = await Promise.all(
        claimed.map((c) =>
          attempt(c).catch((err: unknown) => {
            log.error({ err, delivery_id: c.id }, 'webhook attempt crashed');
            return false;
          }),
        ),
      );
      made += results.filter(Boolean).length;
    }
    return made;
  }

  // Passes never overlap within a process: each waits for the previous one.
  let chain: Promise<unknown> = Promise.resolve();
  function runOnce(): Promise<number> {
    const run = chain.then(pass, pass);
    chain = run.catch(() => {});
    return run;
  }

  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let stopped = false;
  let running = false;
  let dirty = false;
  let unsubscribe: (() => void) | undefined;

  function schedule(ms: number) {
    if (stopped || !started) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, ms);
    timer.unref();
  }

  async function tick() {
    timer = undefined;
    running = true;
    dirty = false;
    try {
      await runOnce();
    } catch (err) {
      log.error({ err }, 'webhook worker pass failed');
    } finally {
      running = false;
      schedule(dirty ? 0 : pollMs);
    }
  }

  function nudge() {
    if (stopped || !started) return;
    if (running) dirty = true;
    else schedule(0);
  }

  return {
    runOnce,
    nudge,
    start() {
      if (started || stopped) return;
      started = true;
      unsubscribe = s.events.bus.subscribe(() => nudge());
      schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      unsubscribe?.();
      unsubscribe = undefined;
      await chain;
    },
  };
}

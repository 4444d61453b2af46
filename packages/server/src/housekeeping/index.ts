import { IDEMPOTENCY_TTL_MS } from '../infra/http/idempotency.js';
import type { Services } from '../infra/services.js';

const DAY = 86_400_000;

export interface HousekeepingResult {
  events: number;
  idempotency_keys: number;
  webhook_deliveries: number;
  ingested_events: number;
}

/**
 * Trims what grows without bound: the event log (resumes from before it get
 * `resync_required`), stored idempotent answers past 24 h, finished webhook deliveries and
 * their attempts, and remembered sidecar event ids. Each is one indexed DELETE.
 */
export async function runHousekeeping(s: Services): Promise<HousekeepingResult> {
  const now = s.now();
  const c = s.config;
  const events = await s.events.trim(c.EVENT_RETENTION_DAYS * DAY);
  const idem = await s.db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', now - IDEMPOTENCY_TTL_MS)
    .executeTakeFirst();
  const hooks = await s.db
    .deleteFrom('webhook_deliveries')
    .where('created_at', '<', now - c.WEBHOOK_LOG_RETENTION_DAYS * DAY)
    .where('status', '!=', 'pending')
    .executeTakeFirst();
  const ingested = await s.db
    .deleteFrom('ingested_events')
    .where('created_at', '<', now - c.INGEST_DEDUP_DAYS * DAY)
    .executeTakeFirst();
  return {
    events,
    idempotency_keys: Number(idem.numDeletedRows),
    webhook_deliveries: Number(hooks.numDeletedRows),
    ingested_events: Number(ingested.numDeletedRows),
  };
}

export function startHousekeeping(s: Services, intervalMs = 60 * 60_000) {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = runHousekeeping(s)
      .then((r) => s.log.info({ event: 'housekeeping', ...r }, 'housekeeping pass'))
      .catch((err) => s.log.error({ err }, 'housekeeping failed'));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

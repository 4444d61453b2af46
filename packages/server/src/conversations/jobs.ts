import type { Services } from '../infra/services.js';
import { applyTransition, getSettings, loadConversation } from './service.js';

const SYSTEM = { label: 'system:scheduler', memberId: null, privileged: true } as const;

/**
 * One pass of the conversation housekeeping: transfers nobody answered go back to the
 * previous agent, and conversations idle past the tenant's `inactivity_close_minutes` close.
 * Returns how many conversations it changed. Safe to run on several replicas: each change is a
 * state-machine transition, and a conversation already moved answers 409, which is skipped.
 */
export async function runConversationJobs(s: Services): Promise<number> {
  const now = s.now();
  let changed = 0;
  const transferring = await s.db
    .selectFrom('conversations')
    .select(['id', 'tenant_id', 'transfer_requested_at'])
    .where('state', '=', 'transferring')
    .limit(500)
    .execute();
  for (const row of transferring) {
    const settings = await getSettings(s.db, row.tenant_id);
    if ((row.transfer_requested_at ?? now) > now - settings.transfer_timeout_seconds * 1000)
      continue;
    changed += await tryTransition(s, row.tenant_id, row.id, 'decline', 'timeout');
  }
  const tenants = await s.db
    .selectFrom('tenant_settings')
    .select(['tenant_id', 'conversation'])
    .execute();
  for (const t of tenants) {
    const minutes =
      (JSON.parse(t.conversation) as { inactivity_close_minutes?: number })
        .inactivity_close_minutes ?? 0;
    if (minutes <= 0) continue;
    const idle = await s.db
      .selectFrom('conversations')
      .select('id')
      .where('tenant_id', '=', t.tenant_id)
      .where('state', 'in', ['waiting', 'active'])
      .where('last_activity_at', '<', now - minutes * 60_000)
      .limit(500)
      .execute();
    for (const c of idle)
      changed += await tryTransition(s, t.tenant_id, c.id, 'close', 'inactivity');
  }
  return changed;
}

async function tryTransition(
  s: Services,
  tenantId: string,
  id: string,
  action: 'decline' | 'close',
  reason: string,
) {
  try {
    await s.events.transact(tenantId, async (tx, emit) => {
      const conv = await loadConversation(tx, tenantId, id);
      await applyTransition(
        tx,
        emit,
        { tenantId, dbKind: s.database.kind, now: s.now() },
        conv,
        SYSTEM,
        { action, reason },
      );
    });
    return 1;
  } catch (err) {
    if ((err as { code?: string }).code === 'invalid_state_transition') return 0;
    s.log.error({ err, conversation_id: id }, 'conversation job failed');
    return 0;
  }
}

/** Runs the housekeeping every `intervalMs` (unref'd); `stop()` waits for a pass in progress. */
export function startConversationJobs(s: Services, intervalMs = 30_000) {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = runConversationJobs(s).catch((err) =>
      s.log.error({ err }, 'conversation jobs failed'),
    );
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

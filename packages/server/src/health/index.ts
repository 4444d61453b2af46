import { Health, Readiness } from '@astrdesk/protocol';
import { defineRoute, json } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';

const healthzRoute = defineRoute('public', {
  method: 'get',
  path: '/healthz',
  tags: ['Health'],
  summary: 'Liveness: the process answers',
  responses: { 200: json(Health, 'Alive') },
});

const readyzRoute = defineRoute('public', {
  method: 'get',
  path: '/readyz',
  tags: ['Health'],
  summary: 'Readiness: database reachable, migrations applied, Redis answering (when configured)',
  responses: { 200: json(Readiness, 'Ready'), 503: json(Readiness, 'Not ready') },
});

async function check(fn: () => Promise<unknown>): Promise<{ ok: boolean; detail?: string }> {
  try {
    const r = await Promise.race([
      fn(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('timed out after 2 s')), 2000).unref(),
      ),
    ]);
    return r === false ? { ok: false, detail: 'pending migrations' } : { ok: true };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

export const healthRoutes = newRouter()
  .openapi(healthzRoute, (c) =>
    c.json({ status: 'ok' as const, version: c.var.services.version }, 200),
  )
  .openapi(readyzRoute, async (c) => {
    const s = c.var.services;
    const checks: Record<string, { ok: boolean; detail?: string }> = {
      database: await check(() => s.database.ping()),
      migrations: await check(() => s.database.migrationsApplied()),
    };
    if (s.redis) checks.redis = await check(() => s.redis!.ping());
    const ready = Object.values(checks).every((x) => x.ok);
    return c.json(
      { status: ready ? ('ready' as const) : ('not_ready' as const), checks },
      ready ? 200 : 503,
    );
  });

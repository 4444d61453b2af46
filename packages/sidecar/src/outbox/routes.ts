import { Hono } from 'hono';
import { z } from 'zod';
import { ApiError, type AppEnv, fromZodError } from '../infra/http.js';
import type { Outbox } from './index.js';

const RequeueBody = z.strictObject({
  ids: z.array(z.string().min(1).max(128)).max(10_000).optional(),
});

/**
 * Operator routes (bearer required): see what the server rejected, and put it back after a fix.
 * The SQLite files are locked while the sidecar runs, so this is the way in.
 */
export function outboxRoutes(outbox: Outbox): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/astrbot-api/v1/outbox/dead-letters', (c) => {
      const raw = c.req.query('limit');
      const limit = raw === undefined ? 100 : Number(raw);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new ApiError('validation_failed', 'limit must be a whole number from 1 to 1000', {
          param: 'limit',
        });
      const data = outbox.listDeadLetters(limit).map((r) => ({
        id: r.id,
        type: r.type,
        session: r.session,
        event: JSON.parse(r.payload) as unknown,
        error: r.error,
        status: r.status,
        attempts: r.attempts,
        created_at: new Date(r.created_at).toISOString(),
        dead_at: new Date(r.dead_at).toISOString(),
      }));
      return c.json({ data, total: outbox.deadLetters }, 200);
    })
    .post('/astrbot-api/v1/outbox/dead-letters/requeue', async (c) => {
      let body: unknown = {};
      const text = await c.req.text();
      if (text.trim() !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          throw new ApiError('invalid_json', 'The request body is not valid JSON');
        }
      }
      const parsed = RequeueBody.safeParse(body);
      if (!parsed.success) throw fromZodError(parsed.error);
      const requeued = outbox.requeueDeadLetters(parsed.data.ids);
      return c.json({ requeued, depth: outbox.depth, dead_letters: outbox.deadLetters }, 200);
    });
}

import type { MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { sha256Hex } from '../crypto/index.js';
import type { AppEnv } from './context.js';
import { ApiError } from './errors.js';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** An in-progress key older than this belongs to a request that died; a retry may take it over. */
const ABANDONED_MS = 60_000;

/**
 * `Idempotency-Key` on writes: the first response (2xx or 4xx) is stored for 24 h per
 * credential and key, and a replay with the same request gets it back with
 * `Idempotent-Replayed: true`. The same key with a different request answers 422; while the
 * first is still running, 409. 5xx answers are not stored, so a retry runs again.
 */
export function idempotency(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined) return next();
    if (key.length < 1 || key.length > 255) {
      throw new ApiError('validation_failed', 'Idempotency-Key must be 1–255 characters', {
        param: 'Idempotency-Key',
      });
    }
    const { db, now, secrets } = c.var.services;
    const principalId = c.var.principal.credentialId;
    const body = await c.req.text();
    const url = new URL(c.req.url);
    const requestHash = sha256Hex(`${c.req.method} ${url.pathname}${url.search}\n${body}`);
    const t = now();

    const claim = () =>
      db
        .insertInto('idempotency_keys')
        .values({
          principal_id: principalId,
          key,
          request_hash: requestHash,
          state: 'in_progress',
          status_code: null,
          response_body: null,
          created_at: t,
        })
        .onConflict((oc) => oc.columns(['principal_id', 'key']).doNothing())
        .executeTakeFirst();

    let claimed = Number((await claim()).numInsertedOrUpdatedRows ?? 0) > 0;
    if (!claimed) {
      const prior = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('principal_id', '=', principalId)
        .where('key', '=', key)
        .executeTakeFirst();
      const expired = !prior || prior.created_at < t - IDEMPOTENCY_TTL_MS;
      const abandoned = prior?.state === 'in_progress' && prior.created_at < t - ABANDONED_MS;
      if (expired || abandoned) {
        await db
          .deleteFrom('idempotency_keys')
          .where('principal_id', '=', principalId)
          .where('key', '=', key)
          .execute();
        claimed = Number((await claim()).numInsertedOrUpdatedRows ?? 0) > 0;
      } else if (prior.request_hash !== requestHash) {
        throw new ApiError(
          'idempotency_key_mismatch',
          'This Idempotency-Key was used with a different request',
          {
            param: 'Idempotency-Key',
          },
        );
      } else if (prior.state === 'in_progress') {
        throw new ApiError(
          'idempotency_key_in_use',
          'A request with this Idempotency-Key is still in progress',
          {
            param: 'Idempotency-Key',
          },
        );
      } else {
        c.header('Idempotent-Replayed', 'true');
        return c.body(
          prior.response_body ? secrets.decrypt(prior.response_body, principalId) : '',
          (prior.status_code ?? 200) as ContentfulStatusCode,
          {
            'content-type': 'application/json',
          },
        );
      }
      if (!claimed)
        throw new ApiError(
          'idempotency_key_in_use',
          'A request with this Idempotency-Key is in progress',
          { param: 'Idempotency-Key' },
        );
    }

    const release = () =>
      db
        .deleteFrom('idempotency_keys')
        .where('principal_id', '=', principalId)
        .where('key', '=', key)
        .execute();
    try {
      await next();
    } catch (err) {
      await release();
      throw err;
    }
    const res = c.res;
    if (res.status >= 500) {
      await release();
      return;
    }
    const text = await res.clone().text();
    await db
      .updateTable('idempotency_keys')
      // Stored encrypted: first answers can hold secrets shown once (API keys, webhook secrets).
      .set({
        state: 'done',
        status_code: res.status,
        response_body: secrets.encrypt(text, principalId),
      })
      .where('principal_id', '=', principalId)
      .where('key', '=', key)
      .execute();
  };
}

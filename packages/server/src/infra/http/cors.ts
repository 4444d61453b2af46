import type { MiddlewareHandler } from 'hono';
import { requestHeader, setResponseHeader } from './context.js';

const ALLOW_METHODS = 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
const ALLOW_HEADERS = 'authorization, content-type, idempotency-key, x-request-id, x-astrdesk-sdk';
const EXPOSE_HEADERS =
  'x-request-id, retry-after, idempotent-replayed, ratelimit-limit, ratelimit-remaining';

/**
 * CORS for a bearer-token API. Headers are set before the handler runs,
 * never by editing the finished response: on @hono/node-server, touching `c.res.headers`
 * turns the cheap response into a full fetch Response, which cost more than the rest of a
 * request (hono's own `cors()` does that; see BENCHMARKS.md).
 *
 * @example app.use('*', corsMiddleware('*'))
 */
export function corsMiddleware(origins: string): MiddlewareHandler {
  const allowed =
    origins === '*'
      ? undefined
      : new Set(
          origins
            .split(',')
            .map((o) => o.trim())
            .filter(Boolean),
        );
  return async (c, next) => {
    const origin = requestHeader(c, 'origin');
    if (!origin) return next();
    const allow = allowed === undefined ? '*' : allowed.has(origin) ? origin : undefined;
    if (c.req.method === 'OPTIONS' && requestHeader(c, 'access-control-request-method')) {
      if (!allow) return c.body(null, 204);
      return c.body(null, 204, {
        'Access-Control-Allow-Origin': allow,
        'Access-Control-Allow-Methods': ALLOW_METHODS,
        'Access-Control-Allow-Headers': ALLOW_HEADERS,
        'Access-Control-Max-Age': '600',
        ...(allowed ? { Vary: 'Origin' } : {}),
      });
    }
    if (allow) {
      setResponseHeader(c, 'Access-Control-Allow-Origin', allow);
      setResponseHeader(c, 'Access-Control-Expose-Headers', EXPOSE_HEADERS);
      if (allowed) setResponseHeader(c, 'Vary', 'Origin');
    }
    return next();
  };
}

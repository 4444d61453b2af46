import { requestIdFrom } from '@astrdesk/protocol';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { Logger } from 'pino';
import type { Blacklist } from './blacklist/index.js';
import type { ControlChannel } from './channel/index.js';
import { healthRoutes } from './health/index.js';
import { ApiError, type AppEnv, bearerAuth, envelope, errorResponse } from './infra/http.js';
import { type Interceptor, type InterceptStats, interceptRoutes } from './intercept/index.js';
import type { Outbox } from './outbox/index.js';
import { outboxRoutes } from './outbox/routes.js';

export interface AppDeps {
  blacklist: Blacklist;
  outbox: Outbox;
  channel: ControlChannel;
  stats: InterceptStats;
  interceptor: Interceptor;
  log: Logger;
  apiToken: string;
  bodyLimitBytes: number;
  version: string;
  startedAt: number;
  now: () => number;
}

/** Probes and scrapes: not worth a log line each. */
const QUIET = new Set(['/livez', '/readyz', '/metrics', '/astrbot-api/v1/health']);
const HEALTH_PATH = '/astrbot-api/v1/health';

/**
 * The sidecar's HTTP API. Everything under `/astrbot-api/v1/` needs the plugin's bearer token
 * (`SIDECAR_API_TOKEN`), except `/astrbot-api/v1/health`; `/livez`, `/readyz` and `/metrics`
 * are open. Errors answer the `{ error: { type, code, message, param?, request_id } }` envelope.
 */
export function createApp(d: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { log } = d;

  app.use('*', async (c, next) => {
    const start = performance.now();
    const requestId = requestIdFrom(c.req.header('x-request-id'));
    c.set('requestId', requestId);
    c.set('log', log);
    c.header('x-request-id', requestId);
    await next();
    const path = c.req.path;
    const status = c.res.status;
    if (!QUIET.has(path) || status >= 500)
      log.info(
        {
          request_id: requestId,
          method: c.req.method,
          path,
          status,
          ms: Math.round((performance.now() - start) * 100) / 100,
        },
        'request',
      );
  });

  const auth = bearerAuth(d.apiToken);
  app.use('/astrbot-api/*', (c, next) => (c.req.path === HEALTH_PATH ? next() : auth(c, next)));
  app.use(
    '/astrbot-api/*',
    bodyLimit({
      maxSize: d.bodyLimitBytes,
      onError: () => {
        throw new ApiError(
          'payload_too_large',
          `The request body is larger than ${d.bodyLimitBytes} bytes (SIDECAR_BODY_LIMIT_BYTES)`,
        );
      },
    }),
  );

  app.route('/', healthRoutes(d));
  app.route('/', interceptRoutes(d.interceptor));
  app.route('/', outboxRoutes(d.outbox));

  app.notFound((c) =>
    c.json(
      envelope('route_not_found', `No route ${c.req.method} ${c.req.path}`, c.get('requestId')),
      404,
    ),
  );
  app.onError((err, c) => {
    if (err instanceof ApiError) return errorResponse(c, err);
    if (err instanceof HTTPException && err.status < 500) {
      const code = err.status === 413 ? 'payload_too_large' : 'validation_failed';
      return errorResponse(c, new ApiError(code, err.message || 'Bad request'));
    }
    (c.get('log') ?? log).error(
      { err, request_id: c.get('requestId'), path: c.req.path },
      'unhandled error',
    );
    return errorResponse(c, new ApiError('internal_error', 'Internal error'));
  });
  return app;
}

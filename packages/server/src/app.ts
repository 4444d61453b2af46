import { createRequire } from 'node:module';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { routePath } from 'hono/route';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { apiKeyRoutes, UsageRecorder } from './api-keys/index.js';
import { authRoutes } from './auth/index.js';
import { blacklistRoutes } from './blacklist/index.js';
import type { Config } from './config.js';
import { contactRoutes } from './contacts/index.js';
import { conversationRoutes } from './conversations/index.js';
import { openApiDocument, renderDocs } from './docs/index.js';
import { healthRoutes } from './health/index.js';
import { CredentialCache } from './infra/auth/credential-cache.js';
import type { CachedCredential } from './infra/auth/index.js';
import { loadSecretBox } from './infra/crypto/master-key.js';
import { type DatabaseHandle, openDatabase } from './infra/db/index.js';
import { EventLog, MemoryBus, RedisBus } from './infra/events/index.js';
import {
  type AppEnv,
  lazyRequestLogger,
  requestHeader,
  requestIdFrom,
  setResponseHeader,
} from './infra/http/context.js';
import { corsMiddleware } from './infra/http/cors.js';
import { ApiError, envelope, errorResponse, toApiError } from './infra/http/errors.js';
import { newRouter } from './infra/http/router.js';
import { MemoryRateLimiter, RedisRateLimiter } from './infra/rate-limit/index.js';
import type { Services } from './infra/services.js';
import { ingestRoutes } from './ingest/index.js';
import { instanceRoutes } from './instances/index.js';
import { memberRoutes } from './members/index.js';
import { searchRoutes } from './search/index.js';
import { adminTenantRoutes, tenantRoutes } from './tenants/index.js';
import { installWebhooks, webhookRoutes } from './webhooks/index.js';

const require = createRequire(import.meta.url);
export const VERSION: string = (() => {
  try {
    return (require('../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

export interface CreateServicesOptions {
  config: Config;
  logger?: Logger;
  /** An already-open database (tests pass one per file). */
  database?: DatabaseHandle;
  now?: () => number;
  /** Run migrations before serving (default true). */
  migrate?: boolean;
}

/** Opens the database, Redis and the rest, and runs migrations. */
export async function createServices(opts: CreateServicesOptions): Promise<Services> {
  const { config } = opts;
  const log =
    opts.logger ?? pino({ level: config.LOG_LEVEL, base: { service: 'astrdesk-server' } });
  const database = opts.database ?? openDatabase(config.database);
  if (opts.migrate !== false) {
    const applied = await database.migrate();
    if (applied.length > 0) log.info({ migrations: applied }, 'migrations applied');
  }
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, {
        maxRetriesPerRequest: 2,
        enableOfflineQueue: true,
        lazyConnect: false,
      })
    : undefined;
  redis?.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  const usage = new UsageRecorder(database.db);
  usage.start();
  const now = opts.now ?? Date.now;
  const bus = redis ? new RedisBus(redis) : new MemoryBus();
  if (bus instanceof RedisBus) await bus.ready();
  const credentials = new CredentialCache<CachedCredential>({
    ttlMs: config.AUTH_CACHE_TTL_MS,
    now,
  });
  if (redis) await credentials.connect(redis);
  const services: Services = {
    config,
    database,
    db: database.db,
    log,
    secrets: loadSecretBox({
      masterKey: config.ASTRDESK_MASTER_KEY,
      dataDir: config.DATA_DIR,
      log,
    }),
    redis,
    rateLimiter: redis ? new RedisRateLimiter(redis) : new MemoryRateLimiter(),
    credentials,
    usage,
    events: new EventLog(database.db, bus, now),
    background: [],
    now,
    version: VERSION,
  };
  services.background.push(installWebhooks(services));
  return services;
}

export async function closeServices(s: Services): Promise<void> {
  for (const b of s.background.splice(0)) await b.stop();
  await s.usage.stop().catch(() => {});
  await s.events.bus.close().catch(() => {});
  await s.credentials.close();
  await s.redis?.quit().catch(() => {});
  await s.database.close();
}

/**
 * Builds the HTTP app: request ids and access logs, body limit, every capability's routes,
 * the OpenAPI document and the reference page, and one error handler that answers every
 * failure with the envelope.
 */
export function createApp(services: Services) {
  const app = new OpenAPIHono<AppEnv>();

  // One global middleware rather than four: each layer of hono's compose costs a closure and a
  // promise per request, and this runs on every request.
  const cors = corsMiddleware(services.config.CORS_ORIGINS);
  // Only requests that carry a body pay for the limit check: hono's bodyLimit reads
  // `c.req.raw.body`, which on @hono/node-server builds a full fetch Request.
  const limit = bodyLimit({
    maxSize: services.config.BODY_LIMIT_BYTES,
    onError: () => {
      throw new ApiError(
        'payload_too_large',
        `Request body exceeds ${services.config.BODY_LIMIT_BYTES} bytes`,
      );
    },
  });
  const log = services.log;
  app.use('*', async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFrom(requestHeader(c, 'x-request-id'));
    c.set('requestId', requestId);
    c.set('services', services);
    c.set('log', lazyRequestLogger(log, requestId));
    setResponseHeader(c, 'x-request-id', requestId);
    // Bearer tokens, not cookies, carry credentials, so any origin may call the API from a
    // browser; CORS_ORIGINS narrows that when an operator wants to.
    const m = c.req.method;
    const hasBody = !(m === 'GET' || m === 'HEAD' || m === 'OPTIONS');
    if (requestHeader(c, 'origin') === undefined) {
      // Not a browser's cross-origin call: no CORS work at all.
      if (hasBody) await limit(c, next);
      else await next();
    } else {
      const answered = await cors(c, hasBody ? () => limit(c, next).then(() => {}) : next);
      // A CORS preflight answers here, without reaching a route.
      if (answered instanceof Response) c.res = answered;
    }
    if (!log.isLevelEnabled('info')) return;
    const p = c.get('principal');
    log.info(
      {
        request_id: requestId,
        tenant_id: p?.tenantId ?? null,
        principal: p ? `${p.kind}:${p.id}` : null,
        method: m,
        route: routePath(c, -1),
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 100) / 100,
      },
      'request',
    );
  });

  const v1 = newRouter();
  v1.route('/', healthRoutes);
  v1.route('/', tenantRoutes);
  v1.route('/', adminTenantRoutes);
  v1.route('/', authRoutes);
  v1.route('/', memberRoutes);
  v1.route('/', apiKeyRoutes);
  v1.route('/', webhookRoutes);
  v1.route('/', instanceRoutes);
  v1.route('/', contactRoutes);
  v1.route('/', searchRoutes);
  v1.route('/', conversationRoutes);
  v1.route('/', ingestRoutes);
  v1.route('/', blacklistRoutes);
  app.route('/', v1);

  // Built on first request, after every route is registered, then reused.
  let doc: ReturnType<typeof openApiDocument> | undefined;
  let docsHtml: string | undefined;
  const getDoc = () => {
    doc ??= openApiDocument(app, services.version);
    return doc;
  };
  app.get('/openapi.json', (c) => c.json(getDoc()));
  app.get('/docs', (c) => {
    docsHtml ??= renderDocs(getDoc());
    return c.html(docsHtml);
  });

  // A path that exists under another method answers 405 with Allow, not 404.
  const routePatterns = () =>
    app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => ({
        method: r.method,
        re: new RegExp(`^${r.path.replace(/:[^/]+/g, '[^/]+')}$`),
      }));
  let patterns: ReturnType<typeof routePatterns> | undefined;
  app.notFound((c) => {
    patterns ??= routePatterns();
    const allowed = [
      ...new Set(patterns.filter((p) => p.re.test(c.req.path)).map((p) => p.method)),
    ];
    const requestId = c.get('requestId') ?? 'unknown';
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return c.json(
        envelope(
          'method_not_allowed',
          `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(', ')}`,
          requestId,
        ),
        405,
      );
    }
    return c.json(
      envelope('route_not_found', `No route for ${c.req.method} ${c.req.path}`, requestId),
      404,
    );
  });
  app.onError((err, c) => {
    const apiErr = toApiError(err);
    if (apiErr.status >= 500) {
      (c.get('log') ?? services.log).error({ err }, 'unhandled error');
    }
    return errorResponse(c, apiErr);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;

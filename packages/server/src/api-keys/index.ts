import {
  ApiKey,
  ApiKeyUsage,
  ApiKeyUsageQuery,
  CreateApiKeyRequest,
  CreatedApiKey,
  ListQuery,
  Page,
  type Scope,
  TOKEN_PREFIXES,
} from '@astrdesk/protocol';
import { newId, newToken, sha256Hex } from '../infra/crypto/index.js';
import { iso } from '../infra/db/index.js';
import type { ApiKeysTable } from '../infra/db/schema.js';
import { ApiError, notFound } from '../infra/http/errors.js';
import { paginateById } from '../infra/http/pagination.js';
import { defineRoute, IdParam, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';

export { UsageRecorder } from './usage.js';

const GRANULARITY_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
const MAX_BUCKETS = 1500;

export function toApiKey(r: ApiKeysTable): ApiKey {
  return {
    id: r.id,
    object: 'api_key',
    name: r.name,
    prefix: r.prefix,
    last4: r.last4,
    scopes: JSON.parse(r.scopes) as Scope[],
    rate_limit_per_minute: r.rate_limit_per_minute,
    created_by: r.created_by,
    created_at: iso(r.created_at),
    expires_at: iso(r.expires_at),
    revoked_at: iso(r.revoked_at),
    last_used_at: iso(r.last_used_at),
  };
}

const createKeyRoute = defineRoute(
  { scope: 'api_keys:write' },
  {
    method: 'post',
    path: '/v1/api-keys',
    tags: ['API keys'],
    summary: 'Create an API key',
    description:
      'The `secret` (`adk_...`) is in this answer only; it is stored as a SHA-256 hash. A credential can only grant scopes it holds itself.',
    request: { body: jsonBody(CreateApiKeyRequest) },
    responses: { 201: json(CreatedApiKey, 'The key, with its secret') },
  },
);

const listKeysRoute = defineRoute(
  { scope: 'api_keys:read' },
  {
    method: 'get',
    path: '/v1/api-keys',
    tags: ['API keys'],
    summary: 'List API keys (prefix and last 4 only)',
    request: { query: ListQuery },
    responses: { 200: json(Page(ApiKey), 'A page of keys') },
  },
);

const getKeyRoute = defineRoute(
  { scope: 'api_keys:read' },
  {
    method: 'get',
    path: '/v1/api-keys/{id}',
    tags: ['API keys'],
    summary: 'An API key',
    request: { params: IdParam },
    responses: { 200: json(ApiKey, 'The key') },
  },
);

const revokeKeyRoute = defineRoute(
  { scope: 'api_keys:write' },
  {
    method: 'delete',
    path: '/v1/api-keys/{id}',
    tags: ['API keys'],
    summary: 'Revoke an API key',
    description:
      'The key stops working at once (401 `token_revoked`). It stays listed with `revoked_at`.',
    request: { params: IdParam },
    responses: { 200: json(ApiKey, 'The revoked key') },
  },
);

const usageRoute = defineRoute(
  { scope: 'api_keys:read' },
  {
    method: 'get',
    path: '/v1/api-keys/{id}/usage',
    tags: ['API keys'],
    summary: 'Calls made with a key, per minute, hour or day',
    request: { params: IdParam, query: ApiKeyUsageQuery },
    responses: { 200: json(ApiKeyUsage, 'Usage buckets') },
  },
);

export const apiKeyRoutes = newRouter()
  .openapi(createKeyRoute, async (c) => {
    const { db, now } = c.var.services;
    const body = c.req.valid('json');
    const p = c.var.principal;
    const t = now();
    const missing = body.scopes.filter((s) => !p.scopes.includes(s));
    if (missing.length > 0) {
      throw new ApiError(
        'insufficient_scope',
        `Cannot grant scopes this credential does not hold: ${missing.join(', ')}`,
        {
          param: 'scopes',
          details: { missing },
        },
      );
    }
    const expiresAt = body.expires_at ? Date.parse(body.expires_at) : null;
    if (expiresAt !== null && expiresAt <= t) {
      throw new ApiError('validation_failed', 'expires_at must be in the future', {
        param: 'expires_at',
      });
    }
    const secret = newToken(TOKEN_PREFIXES.apiKey);
    const row: ApiKeysTable = {
      id: newId('apiKey', t),
      tenant_id: c.var.tenantId,
      name: body.name,
      prefix: secret.slice(0, 12),
      last4: secret.slice(-4),
      secret_hash: sha256Hex(secret),
      scopes: JSON.stringify([...new Set(body.scopes)]),
      rate_limit_per_minute: body.rate_limit_per_minute ?? null,
      created_by: p.id,
      created_at: t,
      expires_at: expiresAt,
      revoked_at: null,
      last_used_at: null,
    };
    await db.insertInto('api_keys').values(row).execute();
    c.var.log.info(
      { event: 'api_key.created', key_id: row.id, scopes: body.scopes },
      'api key created',
    );
    return c.json({ ...toApiKey(row), secret }, 201);
  })
  .openapi(listKeysRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    await c.var.services.usage.flush();
    const page = await paginateById(
      db.selectFrom('api_keys').selectAll().where('tenant_id', '=', c.var.tenantId),
      q,
      toApiKey,
    );
    return c.json(page, 200);
  })
  .openapi(getKeyRoute, async (c) => {
    const { id } = c.req.valid('param');
    await c.var.services.usage.flush();
    const row = await c.var.services.db
      .selectFrom('api_keys')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('API key');
    return c.json(toApiKey(row), 200);
  })
  .openapi(revokeKeyRoute, async (c) => {
    const { db, now } = c.var.services;
    const { id } = c.req.valid('param');
    const row = await db
      .selectFrom('api_keys')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('API key');
    const revokedAt = row.revoked_at ?? now();
    if (row.revoked_at === null) {
      await db
        .updateTable('api_keys')
        .set({ revoked_at: revokedAt })
        .where('id', '=', id)
        .execute();
      await c.var.services.credentials.invalidateTenant(c.var.tenantId);
      c.var.log.info({ event: 'api_key.revoked', key_id: id }, 'api key revoked');
    }
    return c.json(toApiKey({ ...row, revoked_at: revokedAt }), 200);
  })
  .openapi(usageRoute, async (c) => {
    const { db, now, usage } = c.var.services;
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const key = await db
      .selectFrom('api_keys')
      .select(['id'])
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!key) throw notFound('API key');
    const step = GRANULARITY_MS[q.granularity];
    const to = q.to ? Date.parse(q.to) : now();
    const from = q.from ? Date.parse(q.from) : to - 86_400_000;
    if (from >= to)
      throw new ApiError('validation_failed', '`from` must be before `to`', { param: 'from' });
    const start = Math.floor(from / step) * step;
    if ((to - start) / step > MAX_BUCKETS) {
      throw new ApiError(
        'validation_failed',
        `At most ${MAX_BUCKETS} buckets per query; use a coarser granularity`,
        { param: 'granularity' },
      );
    }
    await usage.flush();
    const [rows, fresh] = await Promise.all([
      db
        .selectFrom('api_key_usage')
        .select(['minute', 'count'])
        .where('key_id', '=', id)
        .where('minute', '>=', start)
        .where('minute', '<', to)
        .orderBy('minute')
        .execute(),
      db
        .selectFrom('api_keys')
        .select('last_used_at')
        .where('id', '=', id)
        .executeTakeFirstOrThrow(),
    ]);
    const buckets = new Map<number, number>();
    for (let b = start; b < to; b += step) buckets.set(b, 0);
    let total = 0;
    for (const r of rows) {
      const b = Math.floor(r.minute / step) * step;
      buckets.set(b, (buckets.get(b) ?? 0) + r.count);
      total += r.count;
    }
    return c.json(
      {
        object: 'api_key_usage' as const,
        key_id: id,
        granularity: q.granularity,
        from: iso(start),
        to: iso(to),
        total,
        last_used_at: iso(fresh.last_used_at),
        buckets: [...buckets].map(([b, count]) => ({ start: iso(b), count })),
      },
      200,
    );
  });

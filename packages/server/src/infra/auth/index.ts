import { ROLE_SCOPES, type Role, SCOPES, type Scope, TOKEN_PREFIXES } from '@astrdesk/protocol';
import type { MiddlewareHandler } from 'hono';
import { safeEqual, sha256Hex } from '../crypto/index.js';
import { compiled } from '../db/compiled.js';
import type { Db } from '../db/index.js';
import { toBool } from '../db/index.js';
import { type AppEnv, type Principal, requestHeader } from '../http/context.js';
import { ApiError } from '../http/errors.js';
import type { Services } from '../services.js';

/**
 * Who may call a route. Every route states one:
 * - `public`: anyone (signup, login, health);
 * - `operator`: a platform operator token;
 * - `any`: any valid credential, including an operator's;
 * - `instance`: an AstrBot instance token (sidecars only; no other route accepts one);
 * - `{ scope }`: a member session or API key of an **active** tenant holding that scope;
 *   `sessionOnly` narrows it to member sessions (e.g. logout).
 */
export type RouteAuth =
  | 'public'
  | 'operator'
  | 'any'
  | 'instance'
  | { scope: Scope; sessionOnly?: boolean };

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

const denied = (code: 'invalid_token' | 'token_expired' | 'token_revoked', what: string) =>
  new ApiError(
    code,
    code === 'invalid_token'
      ? `Invalid ${what}`
      : `This ${what} has ${code === 'token_expired' ? 'expired' : 'been revoked'}`,
  );

const operator = (id: string) => ({
  principal: { kind: 'operator' as const, id, tenantId: null, scopes: SCOPES, credentialId: id },
  tenantStatus: null,
});

// The two lookups every authenticated request makes on a cache miss.
const apiKeyByHash = compiled((db: Db) =>
  db
    .selectFrom('api_keys as k')
    .innerJoin('tenants as t', 't.id', 'k.tenant_id')
    .select([
      'k.id',
      'k.tenant_id',
      'k.name',
      'k.prefix',
      'k.scopes',
      'k.expires_at',
      'k.revoked_at',
      'k.rate_limit_per_minute',
      't.status',
    ])
    .where('k.secret_hash', '=', '')
    .limit(1),
);
const sessionByHash = compiled((db: Db) =>
  db
    .selectFrom('sessions as s')
    .innerJoin('members as m', 'm.id', 's.member_id')
    .innerJoin('tenants as t', 't.id', 's.tenant_id')
    .select([
      's.id as session_id',
      's.expires_at',
      's.revoked_at',
      'm.id as member_id',
      'm.tenant_id',
      'm.role',
      'm.disabled',
      't.status',
    ])
    .where('s.token_hash', '=', '')
    .limit(1),
);

/**
 * An API key or member session as resolved from the database: what {@link CredentialCache}
 * keeps, so that the checks that depend on the clock (expiry) still run on every request.
 */
export interface CachedCredential {
  tenantId: string;
  tenantStatus: string;
  principal: Principal;
  expiresAt: number | null;
  revokedAt: number | null;
  disabled: boolean;
  /** API keys only: the key's own limit, else the configured default applies. */
  rateLimitPerMinute: number | null;
  /** API keys only: the key's token-bucket key (built once, not per request). */
  rateLimitKey: string;
}

async function loadApiKey(s: Services, hash: string): Promise<CachedCredential | undefined> {
  const [row] = await apiKeyByHash.run(s.db, [hash]);
  if (!row) return undefined;
  const scopes = (JSON.parse(row.scopes) as Scope[]).filter((x) =>
    (SCOPES as readonly string[]).includes(x),
  );
  return {
    tenantId: row.tenant_id,
    tenantStatus: row.status,
    principal: {
      kind: 'api_key',
      id: row.id,
      tenantId: row.tenant_id,
      scopes,
      credentialId: row.id,
      name: row.name,
      prefix: row.prefix,
    },
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    disabled: false,
    rateLimitPerMinute: row.rate_limit_per_minute,
    rateLimitKey: `t:${row.tenant_id}:ratelimit:key:${row.id}`,
  };
}

async function loadSession(s: Services, hash: string): Promise<CachedCredential | undefined> {
  const [row] = await sessionByHash.run(s.db, [hash]);
  if (!row) return undefined;
  const role = row.role as Role;
  return {
    tenantId: row.tenant_id,
    tenantStatus: row.status,
    principal: {
      kind: 'member',
      id: row.member_id,
      tenantId: row.tenant_id,
      role,
      scopes: ROLE_SCOPES[role],
      credentialId: row.session_id,
      sessionId: row.session_id,
    },
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    disabled: toBool(row.disabled),
    rateLimitPerMinute: null,
    rateLimitKey: '',
  };
}

/** The cached credential for `hash`, loading it on a miss (`undefined`: no such credential). */
async function cachedCredential(
  s: Services,
  hash: string,
  load: (s: Services, hash: string) => Promise<CachedCredential | undefined>,
): Promise<CachedCredential | undefined> {
  const hit = s.credentials.get(hash);
  if (hit) return hit;
  const generation = s.credentials.generation();
  const loaded = await load(s, hash);
  return loaded && s.credentials.set(hash, loaded, generation);
}

/** Resolves a bearer token to a principal, or throws the ApiError that explains why not. */
export async function resolvePrincipal(
  s: Services,
  token: string,
): Promise<{ principal: Principal; tenantStatus: string | null }> {
  const now = s.now();
  const hash = sha256Hex(token);
  if (token.startsWith(TOKEN_PREFIXES.apiKey)) {
    const key = await cachedCredential(s, hash, loadApiKey);
    if (!key) throw denied('invalid_token', 'API key');
    if (key.revokedAt !== null) throw denied('token_revoked', 'API key');
    if (key.expiresAt !== null && key.expiresAt <= now) throw denied('token_expired', 'API key');
    if (key.tenantStatus === 'active') {
      const limit = key.rateLimitPerMinute ?? s.config.API_KEY_RATE_LIMIT_PER_MINUTE;
      const keyId = key.principal.id;
      const d = await s.rateLimiter.take(key.rateLimitKey, limit, now);
      if (!d.allowed) {
        const retryAfter = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
        throw new ApiError(
          'rate_limited',
          `Rate limit of ${limit} requests per minute exceeded for this API key`,
          {
            headers: {
              'Retry-After': String(retryAfter),
              'RateLimit-Limit': String(limit),
              'RateLimit-Remaining': '0',
            },
          },
        );
      }
      s.usage.record(keyId, key.tenantId, now);
    }
    return { principal: key.principal, tenantStatus: key.tenantStatus };
  }
  if (token.startsWith(TOKEN_PREFIXES.session)) {
    const session = await cachedCredential(s, hash, loadSession);
    if (!session) throw denied('invalid_token', 'session');
    if (session.revokedAt !== null) throw denied('token_revoked', 'session');
    if (session.expiresAt !== null && session.expiresAt <= now)
      throw denied('token_expired', 'session');
    if (session.disabled) throw new ApiError('member_disabled', 'This member has been disabled');
    return { principal: session.principal, tenantStatus: session.tenantStatus };
  }
  if (token.startsWith(TOKEN_PREFIXES.instance)) {
    const row = await s.db
      .selectFrom('instances as i')
      .innerJoin('tenants as t', 't.id', 'i.tenant_id')
      .select(['i.id', 'i.tenant_id', 'i.last_seen_at', 't.status'])
      .where('i.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row) throw denied('invalid_token', 'instance token');
    if (row.last_seen_at === null || row.last_seen_at < now - 30_000) {
      await s.db
        .updateTable('instances')
        .set({ last_seen_at: now })
        .where('id', '=', row.id)
        .execute();
    }
    return {
      principal: {
        kind: 'instance',
        id: row.id,
        tenantId: row.tenant_id,
        scopes: [],
        credentialId: row.id,
      },
      tenantStatus: row.status,
    };
  }
  // An operator token from the environment need not carry our prefix.
  const envToken = s.config.ASTRDESK_OPERATOR_TOKEN;
  if (envToken && safeEqual(token, envToken)) return operator('opr_env');
  if (token.startsWith(TOKEN_PREFIXES.operator)) {
    const row = await s.db
      .selectFrom('operators')
      .select(['id', 'revoked_at'])
      .where('token_hash', '=', hash)
      .executeTakeFirst();
    if (!row) throw denied('invalid_token', 'operator token');
    if (row.revoked_at !== null) throw denied('token_revoked', 'operator token');
    return operator(row.id);
  }
  throw denied('invalid_token', 'token');
}

/**
 * The middleware a route's `auth` becomes. It is the one place that turns a credential into a
 * principal and a tenant scope: handlers read `c.var.tenantId`, never a tenant id from input.
 */
export function requireAuth(auth: RouteAuth): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (auth === 'public') return next();
    const token = bearerToken(requestHeader(c, 'authorization'));
    if (!token) {
      throw new ApiError('unauthenticated', 'Send a credential as "Authorization: Bearer <token>"');
    }
    const { principal, tenantStatus } = await resolvePrincipal(c.get('services'), token);
    c.set('principal', principal);
    if (auth === 'operator') {
      if (principal.kind !== 'operator')
        throw new ApiError('forbidden', 'This route is for platform operators');
      return next();
    }
    if (auth === 'instance') {
      if (principal.kind !== 'instance')
        throw new ApiError('forbidden', 'This route is for AstrDesk sidecars (instance tokens)');
    } else if (principal.kind === 'instance') {
      throw new ApiError('forbidden', 'Instance tokens only work on sidecar routes');
    }
    if (principal.kind !== 'operator') {
      if (tenantStatus !== 'active') {
        throw new ApiError(
          'tenant_not_active',
          `This tenant is ${tenantStatus}; only active tenants' credentials work`,
          {
            details: { tenant_status: tenantStatus },
          },
        );
      }
      c.set('tenantId', principal.tenantId);
    }
    if (auth === 'any' || auth === 'instance') return next();
    if (principal.kind === 'operator')
      throw new ApiError('forbidden', 'Operators act on tenants through /v1/admin');
    if (auth.sessionOnly && principal.kind !== 'member')
      throw new ApiError('forbidden', 'This route needs a member session');
    if (!principal.scopes.includes(auth.scope)) {
      throw new ApiError('insufficient_scope', `This credential lacks the "${auth.scope}" scope`, {
        details: { required_scope: auth.scope },
      });
    }
    return next();
  };
}

import type { Scope } from '@astrdesk/protocol';
import { bearerToken, resolvePrincipal } from '../infra/auth/index.js';
import { toBool } from '../infra/db/index.js';
import type { Principal } from '../infra/http/context.js';
import { ApiError } from '../infra/http/errors.js';
import type { Services } from '../infra/services.js';

/** The scope a credential needs to open `GET /v1/realtime`. */
export const REALTIME_SCOPE: Scope = 'conversations:read';

/** Principal kinds that may hold a realtime socket. Widget tokens join this list later. */
export type ViewerKind = 'member' | 'api_key';

/** Who is on the other end of a socket, and what of the tenant's log they may see. */
export interface Viewer {
  kind: ViewerKind;
  id: string;
  tenantId: string;
  /** Session id, API key id...: what revalidation looks up. */
  credentialId: string;
  /** The agent this socket counts towards in presence (members; later widget tokens). */
  memberId: string | undefined;
  /** Whether `visibility: 'admin'` events (blocked messages) reach this socket. */
  canSeeAdmin: boolean;
}

type Policies = {
  [K in Principal['kind']]: (p: Extract<Principal, { kind: K }>) => Viewer;
};

function requireScope(scopes: readonly Scope[]) {
  if (!scopes.includes(REALTIME_SCOPE)) {
    throw new ApiError(
      'insufficient_scope',
      `This credential lacks the "${REALTIME_SCOPE}" scope`,
      {
        details: { required_scope: REALTIME_SCOPE },
      },
    );
  }
}

/**
 * What each principal kind becomes on a socket. Every kind `resolvePrincipal` can return must
 * appear here (the mapped type enforces it), so a new kind — the widget token — is one entry.
 */
const POLICIES: Policies = {
  member: (p) => {
    requireScope(p.scopes);
    return {
      kind: 'member',
      id: p.id,
      tenantId: p.tenantId,
      credentialId: p.credentialId,
      memberId: p.id,
      canSeeAdmin: p.role === 'owner' || p.role === 'admin',
    };
  },
  api_key: (p) => {
    requireScope(p.scopes);
    return {
      kind: 'api_key',
      id: p.id,
      tenantId: p.tenantId,
      credentialId: p.credentialId,
      memberId: undefined,
      canSeeAdmin: p.scopes.includes('blacklist:read'),
    };
  },
  operator: () => {
    throw new ApiError(
      'forbidden',
      'Operators cannot open a realtime stream; use a member session or an API key',
    );
  },
  instance: () => {
    throw new ApiError('forbidden', 'Instance tokens only work on sidecar routes');
  },
};

/** The `token` query parameter is for browsers, which cannot set headers on a WebSocket. */
export function credentialOf(authorization: string | undefined, url: URL): string | undefined {
  return bearerToken(authorization) ?? (url.searchParams.get('token') || undefined);
}

/**
 * Turns the credential of an upgrade request into a {@link Viewer}, or throws the ApiError to
 * answer (401 no/invalid credential, 403 wrong kind, inactive tenant or missing scope, 429).
 */
export async function authenticate(s: Services, token: string | undefined): Promise<Viewer> {
  if (!token) {
    throw new ApiError(
      'unauthenticated',
      'Send a credential as "Authorization: Bearer <token>" or as the "token" query parameter',
    );
  }
  const { principal, tenantStatus } = await resolvePrincipal(s, token);
  const policy = POLICIES[principal.kind] as (p: Principal) => Viewer;
  const viewer = policy(principal);
  if (tenantStatus !== 'active') {
    throw new ApiError(
      'tenant_not_active',
      `This tenant is ${tenantStatus}; only active tenants' credentials work`,
      { details: { tenant_status: tenantStatus } },
    );
  }
  return viewer;
}

/** Credentials still valid, by id, with what they may see now (a member's role may change). */
export type StillValid = Map<string, { canSeeAdmin: boolean }>;

const chunks = <T>(xs: T[], n: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
};

/**
 * Re-checks open sockets' credentials in bulk (no rate-limit token taken, no usage recorded):
 * a revoked or expired session or key, a disabled member or a tenant no longer active drops
 * out of the answer.
 */
const CHECKS: Record<ViewerKind, (s: Services, ids: string[], now: number) => Promise<StillValid>> =
  {
    member: async (s, ids, now) => {
      const out: StillValid = new Map();
      for (const part of chunks(ids, 500)) {
        const rows = await s.db
          .selectFrom('sessions as s')
          .innerJoin('members as m', 'm.id', 's.member_id')
          .innerJoin('tenants as t', 't.id', 's.tenant_id')
          .select(['s.id', 's.expires_at', 's.revoked_at', 'm.role', 'm.disabled', 't.status'])
          .where('s.id', 'in', part)
          .execute();
        for (const r of rows) {
          if (r.revoked_at !== null || r.expires_at <= now) continue;
          if (toBool(r.disabled) || r.status !== 'active') continue;
          out.set(r.id, { canSeeAdmin: r.role === 'owner' || r.role === 'admin' });
        }
      }
      return out;
    },
    api_key: async (s, ids, now) => {
      const out: StillValid = new Map();
      for (const part of chunks(ids, 500)) {
        const rows = await s.db
          .selectFrom('api_keys as k')
          .innerJoin('tenants as t', 't.id', 'k.tenant_id')
          .select(['k.id', 'k.expires_at', 'k.revoked_at', 'k.scopes', 't.status'])
          .where('k.id', 'in', part)
          .execute();
        for (const r of rows) {
          if (r.revoked_at !== null || (r.expires_at !== null && r.expires_at <= now)) continue;
          if (r.status !== 'active') continue;
          const scopes = JSON.parse(r.scopes) as string[];
          if (!scopes.includes(REALTIME_SCOPE)) continue;
          out.set(r.id, { canSeeAdmin: scopes.includes('blacklist:read') });
        }
      }
      return out;
    },
  };

/** {@link CHECKS} over a mixed list of viewers. */
export async function stillValid(s: Services, viewers: Iterable<Viewer>): Promise<StillValid> {
  const byKind = new Map<ViewerKind, Set<string>>();
  for (const v of viewers) {
    let set = byKind.get(v.kind);
    if (!set) {
      set = new Set();
      byKind.set(v.kind, set);
    }
    set.add(v.credentialId);
  }
  const out: StillValid = new Map();
  const now = s.now();
  for (const [kind, ids] of byKind) {
    for (const [id, v] of await CHECKS[kind](s, [...ids], now)) out.set(id, v);
  }
  return out;
}

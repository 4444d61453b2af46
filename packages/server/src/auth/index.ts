import {
  AcceptInviteRequest,
  LoginRequest,
  Me,
  SessionResponse,
  TOKEN_PREFIXES,
} from '@astrdesk/protocol';
import { z } from '@hono/zod-openapi';
import {
  DUMMY_PASSWORD_HASH,
  hashPassword,
  newId,
  newToken,
  sha256Hex,
  verifyPassword,
} from '../infra/crypto/index.js';
import { compiled } from '../infra/db/compiled.js';
import { type Db, iso, toBool } from '../infra/db/index.js';
import type { MembersTable } from '../infra/db/schema.js';
import { ApiError } from '../infra/http/errors.js';
import { defineRoute, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import type { Services } from '../infra/services.js';
import { toMember } from '../members/index.js';

// On the path of every `GET /v1/me` with a session.
const memberById = compiled((db: Db) =>
  db.selectFrom('members').selectAll().where('id', '=', '').limit(1),
);

const loginRoute = defineRoute('public', {
  method: 'post',
  path: '/v1/auth/login',
  tags: ['Auth'],
  summary: 'Log in a member',
  description:
    'Returns an opaque session token (shown once, stored hashed) for `Authorization: Bearer`. Only members of active tenants can log in.',
  request: { body: jsonBody(LoginRequest) },
  responses: {
    200: json(SessionResponse, 'Logged in'),
    401: json(z.any(), 'Wrong email or password'),
    403: json(z.any(), '`tenant_not_active` or `member_disabled`'),
  },
});

const acceptInviteRoute = defineRoute('public', {
  method: 'post',
  path: '/v1/auth/accept-invite',
  tags: ['Auth'],
  summary: 'Set a password with an invite token and log in',
  request: { body: jsonBody(AcceptInviteRequest) },
  responses: {
    200: json(SessionResponse, 'Logged in'),
    401: json(z.any(), 'Invalid or expired invite'),
  },
});

const logoutRoute = defineRoute(
  { scope: 'tenant:read', sessionOnly: true },
  {
    method: 'post',
    path: '/v1/auth/logout',
    tags: ['Auth'],
    summary: 'Revoke the calling session',
    responses: { 204: { description: 'Logged out' } },
  },
);

const meRoute = defineRoute('any', {
  method: 'get',
  path: '/v1/me',
  tags: ['Auth'],
  summary: 'Who the credential is',
  responses: { 200: json(Me, 'The principal') },
});

async function startSession(s: Services, member: MembersTable) {
  const t = s.now();
  const token = newToken(TOKEN_PREFIXES.session);
  const expires = t + s.config.SESSION_TTL_HOURS * 3_600_000;
  await s.db.transaction().execute(async (tx) => {
    await tx
      .insertInto('sessions')
      .values({
        id: newId('session', t),
        token_hash: sha256Hex(token),
        member_id: member.id,
        tenant_id: member.tenant_id,
        created_at: t,
        expires_at: expires,
        revoked_at: null,
        last_used_at: null,
      })
      .execute();
    await tx.updateTable('members').set({ last_login_at: t }).where('id', '=', member.id).execute();
  });
  return {
    object: 'session' as const,
    token,
    expires_at: iso(expires),
    member: toMember({ ...member, last_login_at: t }),
  };
}

async function assertCanLogIn(s: Services, member: MembersTable) {
  if (toBool(member.disabled))
    throw new ApiError('member_disabled', 'This member has been disabled');
  const tenant = await s.db
    .selectFrom('tenants')
    .select('status')
    .where('id', '=', member.tenant_id)
    .executeTakeFirstOrThrow();
  if (tenant.status !== 'active') {
    throw new ApiError(
      'tenant_not_active',
      `This tenant is ${tenant.status}; members can log in once it is active`,
      {
        details: { tenant_status: tenant.status },
      },
    );
  }
}

export const authRoutes = newRouter()
  .openapi(loginRoute, async (c) => {
    const s = c.var.services;
    const { email, password } = c.req.valid('json');
    // Slow down password guessing: a token bucket per email, shared across replicas with Redis.
    const limit = s.config.LOGIN_ATTEMPTS_PER_MINUTE;
    const d = await s.rateLimiter.take(`login:${sha256Hex(email)}`, limit, s.now());
    if (!d.allowed) {
      throw new ApiError(
        'rate_limited',
        'Too many login attempts for this account; try again later',
        {
          headers: { 'Retry-After': String(Math.max(1, Math.ceil(d.retryAfterMs / 1000))) },
        },
      );
    }
    const member = await s.db
      .selectFrom('members')
      .selectAll()
      .where('email', '=', email)
      .executeTakeFirst();
    // Verify against a dummy hash for unknown emails so timing does not reveal who has an account.
    const ok = await verifyPassword(password, member?.password_hash ?? DUMMY_PASSWORD_HASH);
    if (!member?.password_hash || !ok) {
      c.var.log.info({ event: 'auth.login_failed' }, 'login failed');
      throw new ApiError('invalid_credentials', 'Wrong email or password');
    }
    await assertCanLogIn(s, member);
    const session = await startSession(s, member);
    c.var.log.info(
      { event: 'auth.login', member_id: member.id, tenant_id: member.tenant_id },
      'member logged in',
    );
    return c.json(session, 200);
  })
  .openapi(acceptInviteRoute, async (c) => {
    const s = c.var.services;
    const { invite_token, password } = c.req.valid('json');
    const member = await s.db
      .selectFrom('members')
      .selectAll()
      .where('invite_token_hash', '=', sha256Hex(invite_token))
      .executeTakeFirst();
    if (!member || member.invite_expires_at === null || member.invite_expires_at <= s.now()) {
      throw new ApiError('invalid_token', 'This invite is invalid or has expired', {
        param: 'invite_token',
      });
    }
    await assertCanLogIn(s, member);
    const passwordHash = await hashPassword(password);
    await s.db
      .updateTable('members')
      .set({
        password_hash: passwordHash,
        invite_token_hash: null,
        invite_expires_at: null,
        updated_at: s.now(),
      })
      .where('id', '=', member.id)
      .execute();
    const session = await startSession(s, {
      ...member,
      password_hash: passwordHash,
      invite_token_hash: null,
      invite_expires_at: null,
    });
    return c.json(session, 200);
  })
  .openapi(logoutRoute, async (c) => {
    const p = c.var.principal;
    if (p.kind === 'member') {
      await c.var.services.db
        .updateTable('sessions')
        .set({ revoked_at: c.var.services.now() })
        .where('id', '=', p.sessionId)
        .execute();
      await c.var.services.credentials.invalidateTenant(p.tenantId);
    }
    return c.body(null, 204);
  })
  .openapi(meRoute, async (c) => {
    const p = c.get('principal');
    let member = null;
    if (p.kind === 'member') {
      const [row] = await memberById.run(c.get('services').db, [p.id]);
      if (!row) throw new ApiError('invalid_token', 'This member no longer exists');
      member = toMember(row);
    }
    return c.json(
      {
        object: 'principal' as const,
        kind: p.kind,
        id: p.id,
        tenant_id: p.tenantId,
        scopes: [...p.scopes],
        member,
        api_key: p.kind === 'api_key' ? { id: p.id, name: p.name, prefix: p.prefix } : null,
      },
      200,
    );
  });

import {
  CreatedMember,
  CreateMemberRequest,
  ListQuery,
  Member,
  Page,
  TOKEN_PREFIXES,
  UpdateMemberRequest,
} from '@astrdesk/protocol';
import { z } from '@hono/zod-openapi';
import { hashPassword, newId, newToken, sha256Hex } from '../infra/crypto/index.js';
import { iso, isUniqueViolation } from '../infra/db/index.js';
import type { MembersTable } from '../infra/db/schema.js';
import { ApiError, notFound } from '../infra/http/errors.js';
import { paginateById } from '../infra/http/pagination.js';
import { defineRoute, IdParam, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import { canAssignRole, toMember } from './service.js';

export { toMember } from './service.js';

const INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

const createMemberRoute = defineRoute(
  { scope: 'members:write' },
  {
    method: 'post',
    path: '/v1/members',
    tags: ['Members'],
    summary: 'Invite a member',
    description:
      'Owners and admins invite agents and admins. Without `password` the answer carries a one-time `invite_token` (valid 7 days) for `POST /v1/auth/accept-invite`.',
    request: { body: jsonBody(CreateMemberRequest) },
    responses: {
      201: json(CreatedMember, 'The member'),
      409: json(z.any(), 'Email already registered'),
    },
  },
);

const listMembersRoute = defineRoute(
  { scope: 'members:read' },
  {
    method: 'get',
    path: '/v1/members',
    tags: ['Members'],
    summary: 'List members, newest first',
    request: { query: ListQuery },
    responses: { 200: json(Page(Member), 'A page of members') },
  },
);

const getMemberRoute = defineRoute(
  { scope: 'members:read' },
  {
    method: 'get',
    path: '/v1/members/{id}',
    tags: ['Members'],
    summary: 'A member',
    request: { params: IdParam },
    responses: { 200: json(Member, 'The member') },
  },
);

const updateMemberRoute = defineRoute(
  { scope: 'members:write' },
  {
    method: 'patch',
    path: '/v1/members/{id}',
    tags: ['Members'],
    summary: "Change a member's role, name or disabled flag",
    description:
      'Disabling a member revokes their sessions. A tenant always keeps one enabled owner.',
    request: { params: IdParam, body: jsonBody(UpdateMemberRequest) },
    responses: { 200: json(Member, 'The member') },
  },
);

export const memberRoutes = newRouter()
  .openapi(createMemberRoute, async (c) => {
    const { db, now } = c.var.services;
    const body = c.req.valid('json');
    const p = c.var.principal;
    if (p.kind === 'member' && !canAssignRole(p.role, body.role)) {
      throw new ApiError('forbidden', `A ${p.role} cannot create a ${body.role}`, {
        param: 'role',
      });
    }
    const t = now();
    const inviteToken = body.password ? null : newToken(TOKEN_PREFIXES.invite);
    const row: MembersTable = {
      id: newId('member', t),
      tenant_id: c.var.tenantId,
      email: body.email,
      name: body.name,
      role: body.role,
      password_hash: body.password ? await hashPassword(body.password) : null,
      disabled: 0,
      invite_token_hash: inviteToken ? sha256Hex(inviteToken) : null,
      invite_expires_at: inviteToken ? t + INVITE_TTL_MS : null,
      created_at: t,
      updated_at: t,
      last_login_at: null,
    };
    try {
      await db.insertInto('members').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ApiError('already_exists', 'A member with this email already exists', {
          param: 'email',
        });
      throw err;
    }
    c.var.log.info(
      { event: 'member.created', member_id: row.id, role: row.role },
      'member created',
    );
    return c.json(
      {
        ...toMember(row),
        invite_token: inviteToken,
        invite_expires_at: iso(row.invite_expires_at),
      },
      201,
    );
  })
  .openapi(listMembersRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const page = await paginateById(
      db.selectFrom('members').selectAll().where('tenant_id', '=', c.var.tenantId),
      q,
      toMember,
    );
    return c.json(page, 200);
  })
  .openapi(getMemberRoute, async (c) => {
    const { id } = c.req.valid('param');
    const row = await c.var.services.db
      .selectFrom('members')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('member');
    return c.json(toMember(row), 200);
  })
  .openapi(updateMemberRoute, async (c) => {
    const { db, now } = c.var.services;
    const { id } = c.req.valid('param');
    const patch = c.req.valid('json');
    const p = c.var.principal;
    const tenantId = c.var.tenantId;
    const updated = await db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('members')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!row) throw notFound('member');
      if (p.kind === 'member') {
        // Admins manage agents and admins; only owners touch owners or make owners.
        if (row.role === 'owner' && p.role !== 'owner')
          throw new ApiError('forbidden', 'Only an owner can change an owner');
        if (patch.role && !canAssignRole(p.role, patch.role))
          throw new ApiError('forbidden', `A ${p.role} cannot grant ${patch.role}`, {
            param: 'role',
          });
      }
      const next = {
        ...row,
        ...(patch.role !== undefined ? { role: patch.role } : {}),
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.disabled !== undefined ? { disabled: patch.disabled ? 1 : 0 } : {}),
        updated_at: now(),
      };
      if (row.role === 'owner' && (next.role !== 'owner' || next.disabled === 1)) {
        const owners = await tx
          .selectFrom('members')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('tenant_id', '=', tenantId)
          .where('role', '=', 'owner')
          .where('disabled', '=', 0)
          .executeTakeFirstOrThrow();
        if (Number(owners.n) <= 1)
          throw new ApiError('conflict', 'A tenant must keep at least one enabled owner');
      }
      await tx
        .updateTable('members')
        .set({
          role: next.role,
          name: next.name,
          disabled: next.disabled,
          updated_at: next.updated_at,
        })
        .where('id', '=', id)
        .execute();
      if (next.disabled === 1 && row.disabled === 0) {
        await tx
          .updateTable('sessions')
          .set({ revoked_at: next.updated_at })
          .where('member_id', '=', id)
          .where('revoked_at', 'is', null)
          .execute();
      }
      return next;
    });
    // Role and disabled live in cached sessions.
    await c.var.services.credentials.invalidateTenant(tenantId);
    c.var.log.info(
      { event: 'member.updated', member_id: id, fields: Object.keys(patch) },
      'member updated',
    );
    return c.json(toMember(updated), 200);
  });

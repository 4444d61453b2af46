import {
  AdminTenant,
  AutoApprovalPolicy,
  ListQuery,
  Page,
  ReasonBody,
  SignupRequest,
  SignupResponse,
  TENANT_ACTIONS,
  Tenant,
  type TenantAction,
  TenantListQuery,
  TenantUpdate,
} from '@astrdesk/protocol';
import { z } from '@hono/zod-openapi';
import type { Selectable } from 'kysely';
import { iso } from '../infra/db/index.js';
import type { TenantStatusEventsTable } from '../infra/db/schema.js';
import { ApiError, notFound } from '../infra/http/errors.js';
import { paginateById } from '../infra/http/pagination.js';
import { defineRoute, IdParam, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import {
  getAutoApprovalPolicy,
  setAutoApprovalPolicy,
  signup,
  toTenant,
  transitionTenant,
} from './service.js';

export { autoApproves, toTenant } from './service.js';

// --- tenant self-service ------------------------------------------------------------------

const signupRoute = defineRoute('public', {
  method: 'post',
  path: '/v1/signup',
  tags: ['Tenants'],
  summary: 'Register a company',
  description:
    "Creates a tenant in `pending` (or `active` when the operator's auto-approval policy matches) and its owner member, who logs in with `contact_email` and `owner_password` once the tenant is active.",
  request: { body: jsonBody(SignupRequest) },
  responses: {
    201: json(SignupResponse, 'Tenant registered'),
    409: json(z.any(), 'The email is already registered'),
  },
});

const getTenantRoute = defineRoute(
  { scope: 'tenant:read' },
  {
    method: 'get',
    path: '/v1/tenant',
    tags: ['Tenants'],
    summary: 'The calling tenant',
    responses: { 200: json(Tenant, 'The tenant') },
  },
);

const updateTenantRoute = defineRoute(
  { scope: 'tenant:write' },
  {
    method: 'patch',
    path: '/v1/tenant',
    tags: ['Tenants'],
    summary: 'Update the company profile',
    request: { body: jsonBody(TenantUpdate) },
    responses: { 200: json(Tenant, 'The updated tenant') },
  },
);

export const tenantRoutes = newRouter()
  .openapi(signupRoute, async (c) => {
    const s = c.var.services;
    if (!s.config.SIGNUP_ENABLED)
      throw new ApiError('forbidden', 'Signup is closed on this server');
    const body = c.req.valid('json');
    const { tenant, ownerId } = await signup(s.db, body, s.now());
    c.var.log.info(
      { event: 'tenant.signup', tenant_id: tenant.id, status: tenant.status },
      'tenant signed up',
    );
    return c.json(
      {
        tenant,
        owner_id: ownerId,
        next_step:
          tenant.status === 'active'
            ? 'Your tenant is active: log in with POST /v1/auth/login.'
            : 'Your tenant awaits approval by the platform operator; you can log in once it is approved.',
      },
      201,
    );
  })
  .openapi(getTenantRoute, async (c) => {
    const row = await c.var.services.db
      .selectFrom('tenants')
      .selectAll()
      .where('id', '=', c.var.tenantId)
      .executeTakeFirstOrThrow();
    return c.json(toTenant(row), 200);
  })
  .openapi(updateTenantRoute, async (c) => {
    const { db, now } = c.var.services;
    const patch = c.req.valid('json');
    const set = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    if (Object.keys(set).length > 0) {
      await db
        .updateTable('tenants')
        .set({ ...set, updated_at: now() })
        .where('id', '=', c.var.tenantId)
        .execute();
    }
    const row = await db
      .selectFrom('tenants')
      .selectAll()
      .where('id', '=', c.var.tenantId)
      .executeTakeFirstOrThrow();
    return c.json(toTenant(row), 200);
  });

// --- operator console -----------------------------------------------------------------------

const listTenantsRoute = defineRoute('operator', {
  method: 'get',
  path: '/v1/admin/tenants',
  tags: ['Operator'],
  summary: 'List tenants, newest first',
  request: { query: ListQuery.extend(TenantListQuery.shape) },
  responses: { 200: json(Page(Tenant), 'A page of tenants') },
});

const getAdminTenantRoute = defineRoute('operator', {
  method: 'get',
  path: '/v1/admin/tenants/{id}',
  tags: ['Operator'],
  summary: 'A tenant with its status history',
  request: { params: IdParam },
  responses: { 200: json(AdminTenant, 'The tenant') },
});

function actionRoute(action: TenantAction) {
  return defineRoute('operator', {
    method: 'post',
    path: `/v1/admin/tenants/{id}/${action}`,
    tags: ['Operator'],
    summary: `${action[0]!.toUpperCase()}${action.slice(1)} a tenant`,
    description: `Allowed from: ${TENANT_ACTIONS[action].from.join(', ')} → ${TENANT_ACTIONS[action].to}. Answers 409 \`invalid_state_transition\` otherwise.`,
    request: {
      params: IdParam,
      body: {
        required: false,
        content: {
          'application/json': {
            schema: ReasonBody,
            example: { reason: 'verified business licence' },
          },
        },
      },
    },
    responses: {
      200: json(Tenant, 'The tenant after the action'),
      409: json(z.any(), 'Not allowed from the current status'),
    },
  });
}

const getPolicyRoute = defineRoute('operator', {
  method: 'get',
  path: '/v1/admin/settings/auto-approval',
  tags: ['Operator'],
  summary: 'The auto-approval policy for new signups',
  responses: { 200: json(AutoApprovalPolicy, 'The policy') },
});

const putPolicyRoute = defineRoute('operator', {
  method: 'put',
  path: '/v1/admin/settings/auto-approval',
  tags: ['Operator'],
  summary: 'Set the auto-approval policy',
  description:
    '`off`: every signup waits for an operator. `all`: every signup is active at once. `email_domains`: signups whose contact email is in one of `domains` are active at once.',
  request: { body: jsonBody(AutoApprovalPolicy) },
  responses: { 200: json(AutoApprovalPolicy, 'The policy now in force') },
});

const toEvent = (e: Selectable<TenantStatusEventsTable>) => ({
  from_status: e.from_status as Tenant['status'] | null,
  to_status: e.to_status as Tenant['status'],
  actor: e.actor,
  reason: e.reason,
  created_at: iso(e.created_at),
});

let admin = newRouter()
  .openapi(listTenantsRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const page = await paginateById(
      db
        .selectFrom('tenants')
        .selectAll()
        .$if(q.status !== undefined, (qb) => qb.where('status', '=', q.status!)),
      q,
      toTenant,
    );
    return c.json(page, 200);
  })
  .openapi(getAdminTenantRoute, async (c) => {
    const { db } = c.var.services;
    const { id } = c.req.valid('param');
    const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('tenant');
    const [events, owner, count] = await Promise.all([
      db
        .selectFrom('tenant_status_events')
        .selectAll()
        .where('tenant_id', '=', id)
        .orderBy('id', 'asc')
        .execute(),
      db
        .selectFrom('members')
        .select('email')
        .where('tenant_id', '=', id)
        .where('role', '=', 'owner')
        .orderBy('id')
        .executeTakeFirst(),
      db
        .selectFrom('members')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant_id', '=', id)
        .executeTakeFirstOrThrow(),
    ]);
    return c.json(
      {
        ...toTenant(row),
        owner_email: owner?.email ?? null,
        member_count: Number(count.n),
        status_history: events.map(toEvent),
      },
      200,
    );
  })
  .openapi(getPolicyRoute, async (c) => c.json(await getAutoApprovalPolicy(c.var.services.db), 200))
  .openapi(putPolicyRoute, async (c) => {
    const { db, now } = c.var.services;
    const policy = c.req.valid('json');
    await setAutoApprovalPolicy(db, policy, now());
    c.var.log.info(
      { event: 'operator.auto_approval_changed', mode: policy.mode, actor: c.var.principal.id },
      'auto-approval policy changed',
    );
    return c.json(policy, 200);
  });

for (const action of Object.keys(TENANT_ACTIONS) as TenantAction[]) {
  admin = admin.openapi(actionRoute(action), async (c) => {
    const { db, now } = c.var.services;
    const { id } = c.req.valid('param');
    const { reason } = c.req.valid('json') as { reason?: string };
    const tenant = await transitionTenant(
      db,
      id,
      action,
      `operator:${c.var.principal.id}`,
      reason,
      now(),
    );
    // Cached credentials carry the tenant's status: a suspended tenant's keys stop now.
    await c.var.services.credentials.invalidateTenant(id);
    c.var.log.info(
      { event: `tenant.${action}`, tenant_id: id, actor: c.var.principal.id },
      `tenant ${action}`,
    );
    return c.json(tenant, 200);
  }) as typeof admin;
}

export const adminTenantRoutes = admin;

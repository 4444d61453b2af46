import {
  CreateInstanceRequest,
  Deleted,
  Instance,
  InstanceWithToken,
  ListQuery,
  Page,
  type Platform,
  TOKEN_PREFIXES,
  UpdateInstanceRequest,
} from '@astrdesk/protocol';
import { z } from '@hono/zod-openapi';
import { newId, newToken, sha256Hex } from '../infra/crypto/index.js';
import { iso } from '../infra/db/index.js';
import type { InstancesTable } from '../infra/db/schema.js';
import { notFound } from '../infra/http/errors.js';
import { paginateById } from '../infra/http/pagination.js';
import { defineRoute, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';

const IdParam = z.object({ id: z.string().min(1).max(64) });

export function toInstance(r: InstancesTable): Instance {
  return {
    id: r.id,
    object: 'instance',
    name: r.name,
    platforms: JSON.parse(r.platforms) as Platform[],
    token_prefix: r.token_prefix,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    last_seen_at: iso(r.last_seen_at),
  };
}

const createRoute = defineRoute(
  { scope: 'instances:write' },
  {
    method: 'post',
    path: '/v1/instances',
    tags: ['Instances'],
    summary: 'Register an AstrBot instance',
    description:
      'Returns the instance token (`adi_...`) once. The sidecar beside that AstrBot uses it; it works on sidecar routes only.',
    request: { body: jsonBody(CreateInstanceRequest) },
    responses: { 201: json(InstanceWithToken, 'The instance and its token') },
  },
);
const listRoute = defineRoute(
  { scope: 'instances:read' },
  {
    method: 'get',
    path: '/v1/instances',
    tags: ['Instances'],
    summary: 'List instances',
    request: { query: ListQuery },
    responses: { 200: json(Page(Instance), 'A page of instances') },
  },
);
const getRoute = defineRoute(
  { scope: 'instances:read' },
  {
    method: 'get',
    path: '/v1/instances/{id}',
    tags: ['Instances'],
    summary: 'An instance',
    request: { params: IdParam },
    responses: { 200: json(Instance, 'The instance') },
  },
);
const updateRoute = defineRoute(
  { scope: 'instances:write' },
  {
    method: 'patch',
    path: '/v1/instances/{id}',
    tags: ['Instances'],
    summary: 'Rename an instance or change its platforms',
    request: { params: IdParam, body: jsonBody(UpdateInstanceRequest) },
    responses: { 200: json(Instance, 'The instance') },
  },
);
const rotateRoute = defineRoute(
  { scope: 'instances:write' },
  {
    method: 'post',
    path: '/v1/instances/{id}/rotate-token',
    tags: ['Instances'],
    summary: 'Replace the instance token',
    description: 'The old token stops working at once; the new one is in this answer only.',
    request: { params: IdParam },
    responses: { 200: json(InstanceWithToken, 'The instance and its new token') },
  },
);
const deleteRoute = defineRoute(
  { scope: 'instances:write' },
  {
    method: 'delete',
    path: '/v1/instances/{id}',
    tags: ['Instances'],
    summary: 'Delete an instance',
    description: 'Its token stops working. Conversations it carried are kept.',
    request: { params: IdParam },
    responses: { 200: json(Deleted, 'Deleted') },
  },
);

function mintToken() {
  const token = newToken(TOKEN_PREFIXES.instance);
  return { token, hash: sha256Hex(token), prefix: token.slice(0, 12) };
}

export const instanceRoutes = newRouter()
  .openapi(createRoute, async (c) => {
    const { db, now } = c.var.services;
    const body = c.req.valid('json');
    const t = now();
    const { token, hash, prefix } = mintToken();
    const row: InstancesTable = {
      id: newId('instance', t),
      tenant_id: c.var.tenantId,
      name: body.name,
      platforms: JSON.stringify([...new Set(body.platforms)]),
      token_hash: hash,
      token_prefix: prefix,
      created_at: t,
      updated_at: t,
      last_seen_at: null,
    };
    await db.insertInto('instances').values(row).execute();
    c.var.log.info({ event: 'instance.created', instance_id: row.id }, 'instance registered');
    return c.json({ ...toInstance(row), token }, 201);
  })
  .openapi(listRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const page = await paginateById(
      q.cursor,
      q.limit,
      (before, n) =>
        db
          .selectFrom('instances')
          .selectAll()
          .where('tenant_id', '=', c.var.tenantId)
          .$if(before !== undefined, (qb) => qb.where('id', '<', before!))
          .orderBy('id', 'desc')
          .limit(n)
          .execute(),
      toInstance,
    );
    return c.json(page, 200);
  })
  .openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const row = await c.var.services.db
      .selectFrom('instances')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('instance');
    return c.json(toInstance(row), 200);
  })
  .openapi(updateRoute, async (c) => {
    const { db, now } = c.var.services;
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const row = await db
      .selectFrom('instances')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('instance');
    const next = {
      ...row,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.platforms !== undefined
        ? { platforms: JSON.stringify([...new Set(body.platforms)]) }
        : {}),
      updated_at: now(),
    };
    await db
      .updateTable('instances')
      .set({ name: next.name, platforms: next.platforms, updated_at: next.updated_at })
      .where('id', '=', id)
      .execute();
    return c.json(toInstance(next), 200);
  })
  .openapi(rotateRoute, async (c) => {
    const { db, now } = c.var.services;
    const { id } = c.req.valid('param');
    const row = await db
      .selectFrom('instances')
      .selectAll()
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw notFound('instance');
    const { token, hash, prefix } = mintToken();
    const next = { ...row, token_hash: hash, token_prefix: prefix, updated_at: now() };
    await db
      .updateTable('instances')
      .set({ token_hash: hash, token_prefix: prefix, updated_at: next.updated_at })
      .where('id', '=', id)
      .execute();
    c.var.log.info({ event: 'instance.token_rotated', instance_id: id }, 'instance token rotated');
    return c.json({ ...toInstance(next), token }, 200);
  })
  .openapi(deleteRoute, async (c) => {
    const { db } = c.var.services;
    const { id } = c.req.valid('param');
    const r = await db
      .deleteFrom('instances')
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw notFound('instance');
    return c.json({ id, deleted: true as const }, 200);
  });

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
import type { Selectable } from 'kysely';
import { newId, newToken, sha256Hex } from '../infra/crypto/index.js';
import { type Db, iso, type Tx } from '../infra/db/index.js';
import type { InstancesTable } from '../infra/db/schema.js';
import { notFound } from '../infra/http/errors.js';
import { paginateById } from '../infra/http/pagination.js';
import { defineRoute, IdParam, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';

/** The tenant's current blacklist revision (0 before the first change). */
export async function currentRevision(db: Db | Tx, tenantId: string): Promise<number> {
  const r = await db
    .selectFrom('blacklist_revisions')
    .select('revision')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return r ? Number(r.revision) : 0;
}

export function toInstance(r: Selectable<InstancesTable>, revision: number): Instance {
  return {
    id: r.id,
    object: 'instance',
    name: r.name,
    platforms: JSON.parse(r.platforms) as Platform[],
    token_prefix: r.token_prefix,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    last_seen_at: iso(r.last_seen_at),
    sync: {
      online: r.connected > 0,
      connected_at: iso(r.connected_at),
      sidecar_version: r.sidecar_version,
      applied_revision: Number(r.applied_revision),
      applied_at: iso(r.applied_at),
      revision,
      lag: Math.max(0, revision - Number(r.applied_revision)),
    },
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
    const row: Selectable<InstancesTable> = {
      id: newId('instance', t),
      tenant_id: c.var.tenantId,
      name: body.name,
      platforms: JSON.stringify([...new Set(body.platforms)]),
      token_hash: hash,
      token_prefix: prefix,
      created_at: t,
      updated_at: t,
      last_seen_at: null,
      applied_revision: 0,
      applied_at: null,
      connected: 0,
      connected_at: null,
      sidecar_version: null,
    };
    await db.insertInto('instances').values(row).execute();
    c.var.log.info({ event: 'instance.created', instance_id: row.id }, 'instance registered');
    return c.json({ ...toInstance(row, await currentRevision(db, c.var.tenantId)), token }, 201);
  })
  .openapi(listRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const revision = await currentRevision(db, c.var.tenantId);
    const page = await paginateById(
      db.selectFrom('instances').selectAll().where('tenant_id', '=', c.var.tenantId),
      q,
      (r) => toInstance(r, revision),
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
    return c.json(toInstance(row, await currentRevision(c.var.services.db, c.var.tenantId)), 200);
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
    return c.json(toInstance(next, await currentRevision(db, c.var.tenantId)), 200);
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
    return c.json({ ...toInstance(next, await currentRevision(db, c.var.tenantId)), token }, 200);
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

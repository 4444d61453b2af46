/**
 * Webhooks: endpoints a tenant registers (`/v1/webhook-endpoints`), deliveries queued from
 * the event log, a worker that sends them signed and retried, and the delivery log.
 *
 * - Endpoint secrets (`whsec_...`) are shown once, at creation and rotation, and stored
 *   encrypted (SecretBox, tenant id as context) with their last 4 characters.
 * - Target URLs pass the SSRF guard (`target.ts`) when saved and again, after DNS
 *   resolution, when sent.
 * - Signatures: `AstrDesk-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` (`signature.ts`).
 * - Retries: exponential backoff with jitter for 24 h (`worker.ts`), then `failed`.
 */
import {
  CreateWebhookEndpointRequest,
  Deleted,
  type EventType,
  ListQuery,
  Page,
  Timestamp,
  UpdateWebhookEndpointRequest,
  WEBHOOK_DELIVERY_STATUSES,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from '@astrdesk/protocol';
import { z } from '@hono/zod-openapi';
import type { Selectable, Updateable } from 'kysely';
import { newToken } from '../infra/crypto/index.js';
import { iso, toBool } from '../infra/db/index.js';
import type {
  WebhookAttemptsTable,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
} from '../infra/db/schema.js';
import type { AppEnv } from '../infra/http/context.js';
import { ApiError, notFound } from '../infra/http/errors.js';
import { paginateById } from '../infra/http/pagination.js';
import { defineRoute, json, jsonBody } from '../infra/http/route.js';
import { newRouter } from '../infra/http/router.js';
import type { Services } from '../infra/services.js';
import { webhookId } from './ids.js';
import { checkTargetUrl } from './target.js';
import { createDeliveryWorker, enqueueDeliveries, type WebhookWorker } from './worker.js';

export { signPayload, verifySignature } from './signature.js';
export { checkTargetUrl, isBlockedAddress } from './target.js';
export type { WebhookWorker } from './worker.js';

/** Prefix of endpoint signing secrets. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

type Context = import('hono').Context<AppEnv>;

// --- schemas --------------------------------------------------------------------------------

const Id = z.string().min(1).max(64);
const EndpointParams = z.object({ id: Id });
const DeliveryParams = z.object({ id: Id, delivery_id: Id });

const DeliveryListQuery = ListQuery.extend({
  status: z
    .enum(WEBHOOK_DELIVERY_STATUSES)
    .optional()
    .meta({ description: 'Only deliveries in this status' }),
});

const WebhookAttempt = z
  .object({
    id: z.number().int(),
    status_code: z
      .number()
      .int()
      .nullable()
      .meta({ description: "The receiver's HTTP status; null when no response arrived" }),
    error: z.string().nullable().meta({ description: 'Why the attempt failed; null on a 2xx' }),
    duration_ms: z.number().int(),
    created_at: Timestamp,
  })
  .meta({ id: 'WebhookAttempt' });

const WebhookDeliveryDetail = WebhookDelivery.extend({
  attempt_log: z.array(WebhookAttempt).meta({ description: 'Every attempt, oldest first' }),
}).meta({ id: 'WebhookDeliveryDetail' });

// --- mapping --------------------------------------------------------------------------------

export function toWebhookEndpoint(r: WebhookEndpointsTable): WebhookEndpoint {
  return {
    id: r.id,
    object: 'webhook_endpoint',
    url: r.url,
    events: JSON.parse(r.events) as WebhookEndpoint['events'],
    enabled: toBool(r.enabled),
    description: r.description,
    secret_last4: r.secret_last4,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

export function toWebhookDelivery(r: WebhookDeliveriesTable): z.infer<typeof WebhookDelivery> {
  return {
    id: r.id,
    object: 'webhook_delivery',
    endpoint_id: r.endpoint_id,
    event_id: r.event_id,
    event_seq: Number(r.event_seq),
    event_type: r.event_type as EventType,
    status: r.status as (typeof WEBHOOK_DELIVERY_STATUSES)[number],
    attempts: r.attempts,
    last_status_code: r.last_status_code,
    last_error: r.last_error,
    next_attempt_at: iso(r.next_attempt_at),
    delivered_at: iso(r.delivered_at),
    created_at: iso(r.created_at),
  };
}

function toWebhookAttempt(r: Selectable<WebhookAttemptsTable>) {
  return {
    id: Number(r.id),
    status_code: r.status_code,
    error: r.error,
    duration_ms: r.duration_ms,
    created_at: iso(r.created_at),
  };
}

// --- helpers --------------------------------------------------------------------------------

/** Answers 400 `target_not_allowed` (param `url`) for URLs the SSRF guard refuses; returns the normalised URL. */
export function assertTargetAllowed(url: string, allowPrivate: boolean): string {
  const check = checkTargetUrl(url, allowPrivate);
  if (!check.ok) {
    throw new ApiError('target_not_allowed', `Webhook URL not allowed: ${check.reason}`, {
      param: 'url',
    });
  }
  return check.url.href;
}

/** A new signing secret: `whsec_` + 32 random bytes, base64url. */
export function newWebhookSecret(): string {
  return newToken(WEBHOOK_SECRET_PREFIX);
}

function normaliseEvents(events: readonly string[]): string[] {
  return events.includes('*') ? ['*'] : [...new Set(events)];
}

/** The endpoint `id` of the caller's tenant, or 404. Every route with an id starts here. */
async function findEndpoint(c: Context, id: string): Promise<WebhookEndpointsTable> {
  const row = await c.var.services.db
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('tenant_id', '=', c.var.tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('webhook endpoint');
  return row;
}

async function findDelivery(
  c: Context,
  endpointId: string,
  deliveryId: string,
): Promise<WebhookDeliveriesTable> {
  const row = await c.var.services.db
    .selectFrom('webhook_deliveries')
    .selectAll()
    .where('tenant_id', '=', c.var.tenantId)
    .where('endpoint_id', '=', endpointId)
    .where('id', '=', deliveryId)
    .executeTakeFirst();
  if (!row) throw notFound('webhook delivery', 'delivery_id');
  return row;
}

/** Host only: URLs may carry credentials or tokens in their path or query. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '?';
  }
}

// --- routes ---------------------------------------------------------------------------------

const TAGS = ['Webhooks'];

const createRoute = defineRoute(
  { scope: 'webhooks:write' },
  {
    method: 'post',
    path: '/v1/webhook-endpoints',
    tags: TAGS,
    summary: 'Create a webhook endpoint',
    description:
      'Events of the subscribed types (or `*` for all) are POSTed to `url` as the event envelope `{ seq, id, type, data, created_at }`, signed with `AstrDesk-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`. The signing `secret` (`whsec_...`) is in this answer only. Loopback, private and link-local targets answer 400 `target_not_allowed`.',
    request: { body: jsonBody(CreateWebhookEndpointRequest) },
    responses: {
      201: json(WebhookEndpointWithSecret, 'The endpoint, with its signing secret'),
    },
  },
);

const listRoute = defineRoute(
  { scope: 'webhooks:read' },
  {
    method: 'get',
    path: '/v1/webhook-endpoints',
    tags: TAGS,
    summary: 'List webhook endpoints',
    description: 'Newest first. Secrets are never shown, only `secret_last4`.',
    request: { query: ListQuery },
    responses: { 200: json(Page(WebhookEndpoint), 'A page of endpoints') },
  },
);

const getRoute = defineRoute(
  { scope: 'webhooks:read' },
  {
    method: 'get',
    path: '/v1/webhook-endpoints/{id}',
    tags: TAGS,
    summary: 'A webhook endpoint',
    request: { params: EndpointParams },
    responses: { 200: json(WebhookEndpoint, 'The endpoint') },
  },
);

const updateRoute = defineRoute(
  { scope: 'webhooks:write' },
  {
    method: 'patch',
    path: '/v1/webhook-endpoints/{id}',
    tags: TAGS,
    summary: 'Update a webhook endpoint',
    description:
      'Change the URL, the subscribed events, the description, or pause it with `enabled: false` (pending deliveries wait, and new events are not queued, until it is enabled again).',
    request: { params: EndpointParams, body: jsonBody(UpdateWebhookEndpointRequest) },
    responses: { 200: json(WebhookEndpoint, 'The updated endpoint') },
  },
);

const deleteRoute = defineRoute(
  { scope: 'webhooks:write' },
  {
    method: 'delete',
    path: '/v1/webhook-endpoints/{id}',
    tags: TAGS,
    summary: 'Delete a webhook endpoint',
    description: 'Its deliveries and their log are deleted with it.',
    request: { params: EndpointParams },
    responses: { 200: json(Deleted, 'Deleted') },
  },
);

const rotateRoute = defineRoute(
  { scope: 'webhooks:write' },
  {
    method: 'post',
    path: '/v1/webhook-endpoints/{id}/rotate-secret',
    tags: TAGS,
    summary: 'Rotate the signing secret of a webhook endpoint',
    description:
      'The new `secret` is in this answer only; every attempt from now on is signed with it, and the old one stops being used at once.',
    request: { params: EndpointParams },
    responses: { 200: json(WebhookEndpointWithSecret, 'The endpoint, with its new secret') },
  },
);

const listDeliveriesRoute = defineRoute(
  { scope: 'webhooks:read' },
  {
    method: 'get',
    path: '/v1/webhook-endpoints/{id}/deliveries',
    tags: TAGS,
    summary: 'List the deliveries of a webhook endpoint',
    description:
      'Newest first, optionally filtered by `status` (`pending`, `succeeded`, `failed`). A delivery is retried with exponential backoff for 24 h before it is `failed`.',
    request: { params: EndpointParams, query: DeliveryListQuery },
    responses: { 200: json(Page(WebhookDelivery), 'A page of deliveries') },
  },
);

const getDeliveryRoute = defineRoute(
  { scope: 'webhooks:read' },
  {
    method: 'get',
    path: '/v1/webhook-endpoints/{id}/deliveries/{delivery_id}',
    tags: TAGS,
    summary: 'A webhook delivery and its attempts',
    description:
      'Every attempt with the HTTP status the receiver answered (or the error when none), its duration and time.',
    request: { params: DeliveryParams },
    responses: { 200: json(WebhookDeliveryDetail, 'The delivery, with its attempt log') },
  },
);

const redeliverRoute = defineRoute(
  { scope: 'webhooks:write' },
  {
    method: 'post',
    path: '/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver',
    tags: TAGS,
    summary: 'Send a webhook delivery again',
    description:
      'Queues the delivery for an attempt now, whatever its status. It keeps its retry schedule while younger than 24 h; an older one gets one attempt. 409 `conflict` while an attempt is in flight or the endpoint is disabled.',
    request: { params: DeliveryParams },
    responses: {
      200: json(WebhookDelivery, 'The delivery, queued'),
      409: json(z.any(), 'An attempt is in flight, or the endpoint is disabled'),
    },
  },
);

export const webhookRoutes = newRouter()
  .openapi(createRoute, async (c) => {
    const { db, now, secrets, config } = c.var.services;
    const body = c.req.valid('json');
    const url = assertTargetAllowed(body.url, config.WEBHOOK_ALLOW_PRIVATE_TARGETS);
    const t = now();
    const secret = newWebhookSecret();
    const row: WebhookEndpointsTable = {
      id: webhookId('endpoint', t),
      tenant_id: c.var.tenantId,
      url,
      events: JSON.stringify(normaliseEvents(body.events)),
      description: body.description || null,
      enabled: body.enabled ? 1 : 0,
      secret_encrypted: secrets.encrypt(secret, c.var.tenantId),
      secret_last4: secret.slice(-4),
      created_at: t,
      updated_at: t,
    };
    await db.insertInto('webhook_endpoints').values(row).execute();
    c.var.log.info(
      { event: 'webhook_endpoint.created', endpoint_id: row.id, host: hostOf(url) },
      'webhook endpoint created',
    );
    return c.json({ ...toWebhookEndpoint(row), secret }, 201);
  })
  .openapi(listRoute, async (c) => {
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const page = await paginateById(
      db.selectFrom('webhook_endpoints').selectAll().where('tenant_id', '=', c.var.tenantId),
      q,
      toWebhookEndpoint,
    );
    return c.json(page, 200);
  })
  .openapi(getRoute, async (c) => {
    const row = await findEndpoint(c, c.req.valid('param').id);
    return c.json(toWebhookEndpoint(row), 200);
  })
  .openapi(updateRoute, async (c) => {
    const row = await findEndpoint(c, c.req.valid('param').id);
    const { db, now, config } = c.var.services;
    const body = c.req.valid('json');
    const set: Updateable<WebhookEndpointsTable> = {};
    if (body.url !== undefined)
      set.url = assertTargetAllowed(body.url, config.WEBHOOK_ALLOW_PRIVATE_TARGETS);
    if (body.events !== undefined) set.events = JSON.stringify(normaliseEvents(body.events));
    if (body.description !== undefined) set.description = body.description || null;
    if (body.enabled !== undefined) set.enabled = body.enabled ? 1 : 0;
    set.updated_at = now();
    await db
      .updateTable('webhook_endpoints')
      .set(set)
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', row.id)
      .execute();
    const updated = { ...row, ...set } as WebhookEndpointsTable;
    c.var.log.info(
      {
        event: 'webhook_endpoint.updated',
        endpoint_id: row.id,
        fields: Object.keys(body),
        host: hostOf(updated.url),
      },
      'webhook endpoint updated',
    );
    if (body.enabled === true) webhookWorkers.get(c.var.services)?.nudge();
    return c.json(toWebhookEndpoint(updated), 200);
  })
  .openapi(deleteRoute, async (c) => {
    const row = await findEndpoint(c, c.req.valid('param').id);
    await c.var.services.db
      .deleteFrom('webhook_endpoints')
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', row.id)
      .execute();
    c.var.log.info(
      { event: 'webhook_endpoint.deleted', endpoint_id: row.id },
      'webhook endpoint deleted',
    );
    return c.json({ id: row.id, deleted: true as const }, 200);
  })
  .openapi(rotateRoute, async (c) => {
    const row = await findEndpoint(c, c.req.valid('param').id);
    const { db, now, secrets } = c.var.services;
    const secret = newWebhookSecret();
    const set = {
      secret_encrypted: secrets.encrypt(secret, c.var.tenantId),
      secret_last4: secret.slice(-4),
      updated_at: now(),
    };
    await db
      .updateTable('webhook_endpoints')
      .set(set)
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', row.id)
      .execute();
    c.var.log.info(
      { event: 'webhook_endpoint.secret_rotated', endpoint_id: row.id },
      'webhook secret rotated',
    );
    return c.json({ ...toWebhookEndpoint({ ...row, ...set }), secret }, 200);
  })
  .openapi(listDeliveriesRoute, async (c) => {
    const endpoint = await findEndpoint(c, c.req.valid('param').id);
    const { db } = c.var.services;
    const q = c.req.valid('query');
    const page = await paginateById(
      db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('tenant_id', '=', c.var.tenantId)
        .where('endpoint_id', '=', endpoint.id)
        .$if(q.status !== undefined, (qb) => qb.where('status', '=', q.status!)),
      q,
      toWebhookDelivery,
    );
    return c.json(page, 200);
  })
  .openapi(getDeliveryRoute, async (c) => {
    const params = c.req.valid('param');
    const endpoint = await findEndpoint(c, params.id);
    const delivery = await findDelivery(c, endpoint.id, params.delivery_id);
    const attempts = await c.var.services.db
      .selectFrom('webhook_attempts')
      .selectAll()
      .where('delivery_id', '=', delivery.id)
      .orderBy('id', 'asc')
      .execute();
    return c.json(
      { ...toWebhookDelivery(delivery), attempt_log: attempts.map(toWebhookAttempt) },
      200,
    );
  })
  .openapi(redeliverRoute, async (c) => {
    const params = c.req.valid('param');
    const endpoint = await findEndpoint(c, params.id);
    const delivery = await findDelivery(c, endpoint.id, params.delivery_id);
    if (!toBool(endpoint.enabled)) {
      throw new ApiError('conflict', 'The webhook endpoint is disabled; enable it first', {
        param: 'id',
      });
    }
    const { db, now } = c.var.services;
    const t = now();
    const r = await db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', next_attempt_at: t, updated_at: t })
      .where('tenant_id', '=', c.var.tenantId)
      .where('id', '=', delivery.id)
      .where((w) => w.or([w('locked_until', 'is', null), w('locked_until', '<', t)]))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      throw new ApiError(
        'conflict',
        'An attempt of this delivery is in flight; try again shortly',
        {
          param: 'delivery_id',
        },
      );
    }
    c.var.log.info(
      { event: 'webhook_delivery.redeliver', endpoint_id: endpoint.id, delivery_id: delivery.id },
      'webhook redelivery queued',
    );
    webhookWorkers.get(c.var.services)?.nudge();
    return c.json(
      toWebhookDelivery({ ...delivery, status: 'pending', next_attempt_at: t, updated_at: t }),
      200,
    );
  });

// --- installation ---------------------------------------------------------------------------

const webhookWorkers = new WeakMap<Services, WebhookWorker>();

/** The delivery worker installed on `services` (tests drive it with `runOnce`). */
export function getWebhookWorker(services: Services): WebhookWorker | undefined {
  return webhookWorkers.get(services);
}

/**
 * Registers the in-transaction hook that queues deliveries for every appended event, and
 * starts the delivery worker (polling, and nudged by committed events on the bus). The
 * returned object's `stop()` ends the loop and waits for in-flight sends; `runOnce()` sends
 * whatever is due now and says how many attempts it made.
 */
export function installWebhooks(s: Services): WebhookWorker {
  s.events.onAppend(async (tx, events) => {
    await enqueueDeliveries(s.db, tx, events, s.now());
  });
  const worker = createDeliveryWorker(s);
  webhookWorkers.set(s, worker);
  worker.start();
  return worker;
}

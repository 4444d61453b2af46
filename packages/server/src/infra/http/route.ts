import { ErrorEnvelope } from '@astrdesk/protocol';
import { createRoute, type RouteConfig, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { type RouteAuth, requireAuth } from '../auth/index.js';
import type { AppEnv } from './context.js';
import { idempotency } from './idempotency.js';

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorEnvelope } },
});

/** Error answers every route may give, documented once. */
const COMMON_ERRORS = {
  400: errorResponse('Invalid request (`validation_failed`, `invalid_json`, `invalid_cursor`)'),
  401: errorResponse('Missing, invalid, expired or revoked credential'),
  403: errorResponse('`insufficient_scope`, `tenant_not_active` or `forbidden`'),
  404: errorResponse('No such resource in this tenant'),
  429: errorResponse('Rate limit exceeded; see `Retry-After`'),
} as const;

function describeAuth(auth: RouteAuth): string {
  if (auth === 'public') return 'public';
  if (auth === 'operator') return 'operator';
  if (auth === 'any') return 'any credential';
  if (auth === 'instance') return 'instance token (sidecar)';
  return auth.sessionOnly ? `member session with ${auth.scope}` : auth.scope;
}

/**
 * `createRoute` plus who may call it. The `auth` becomes the route's first middleware (so an
 * unauthenticated call is a 401 before any validation), the OpenAPI `security` and the
 * `x-astrdesk-auth` extension, and writes get `Idempotency-Key` support.
 *
 * @example
 * export const getTenant = defineRoute({ scope: 'tenant:read' }, {
 *   method: 'get', path: '/v1/tenant', responses: { 200: json(Tenant, 'The tenant') },
 * });
 */
export function defineRoute<P extends string, R extends Omit<RouteConfig, 'path'> & { path: P }>(
  auth: RouteAuth,
  config: R,
) {
  const middleware: MiddlewareHandler<AppEnv>[] = [requireAuth(auth)];
  if (auth !== 'public' && config.method !== 'get') middleware.push(idempotency());
  return createRoute({
    ...config,
    security: auth === 'public' ? [] : [{ bearer: [] }],
    'x-astrdesk-auth': describeAuth(auth),
    responses: {
      ...(auth === 'public' ? { 400: COMMON_ERRORS[400] } : COMMON_ERRORS),
      ...config.responses,
    },
    middleware,
  } as R);
}

/** A JSON response entry for `responses`. */
export function json<T>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } } as const;
}

/** A required JSON request body. */
export function jsonBody<T>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } } as const;
}

/** `{id}` path parameter of resource routes. */
export const IdParam = z.object({ id: z.string().min(1).max(64) });

import { timingSafeEqual } from 'node:crypto';
import { describeErrorCode, type ErrorCode, type ErrorEnvelope } from '@astrdesk/protocol';
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import type { ZodError } from 'zod';

/** Hono env of every route. */
export interface AppEnv {
  Variables: { requestId: string; log: Logger };
}

/**
 * An error the sidecar answers with on purpose; the app's error handler turns it into the
 * `{ error: { type, code, message, param?, request_id } }` envelope with its code's status.
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { param?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = describeErrorCode(code).status;
    this.param = opts.param;
    this.details = opts.details;
  }
}

export function envelope(
  code: ErrorCode,
  message: string,
  requestId: string,
  extra: { param?: string | undefined; details?: Record<string, unknown> | undefined } = {},
): ErrorEnvelope {
  return {
    error: {
      type: describeErrorCode(code).type,
      code,
      message,
      ...(extra.param !== undefined ? { param: extra.param } : {}),
      request_id: requestId,
      ...(extra.details !== undefined ? { details: extra.details } : {}),
    },
  };
}

export function errorResponse(c: Context<AppEnv>, err: ApiError): Response {
  return c.json(
    envelope(err.code, err.message, c.get('requestId') ?? 'unknown', {
      param: err.param,
      details: err.details,
    }),
    err.status as ContentfulStatusCode,
  );
}

/** A zod failure as a 400 naming the first bad field (`param`) and listing every issue. */
export function fromZodError(error: ZodError): ApiError {
  const first = error.issues[0];
  const param = first && first.path.length > 0 ? first.path.join('.') : undefined;
  const message = first
    ? first.code === 'unrecognized_keys'
      ? `Unknown field${first.keys.length > 1 ? 's' : ''} in body: ${first.keys.join(', ')}`
      : param
        ? `Invalid body field "${param}": ${first.message}`
        : `Invalid body: ${first.message}`
    : 'Invalid body';
  const p = first?.code === 'unrecognized_keys' ? first.keys[0] : param;
  return new ApiError('validation_failed', message, {
    ...(p !== undefined ? { param: p } : {}),
    details: {
      issues: error.issues.map((i) => ({
        path: i.path.join('.'),
        code: i.code,
        message: i.message,
      })),
    },
  });
}

/** Parses a body that must be a JSON object; anything else is a 400 `invalid_json`. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError('invalid_json', 'The request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ApiError('invalid_json', 'The request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Reads the body as JSON; a body that is not a JSON object answers 400 `invalid_json`. */
export async function readJsonObject(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  return parseJsonObject(await c.req.text());
}

/** Maps anything thrown to an ApiError (unknown errors become a 500 that reveals nothing). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError('internal_error', 'Internal error');
}

/**
 * Checks `Authorization: Bearer <token>` in constant time. Throws the 401 to answer: missing
 * → `unauthenticated`, wrong → `invalid_token`.
 */
export function bearerChecker(token: string): (header: string | undefined) => void {
  const expected = Buffer.from(token, 'utf8');
  return (header) => {
    if (!header)
      throw new ApiError(
        'unauthenticated',
        'Missing "Authorization: Bearer <SIDECAR_API_TOKEN>" (the token the AstrBot plugin is configured with)',
      );
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const given = m ? Buffer.from(m[1]!, 'utf8') : undefined;
    if (!given || given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new ApiError('invalid_token', 'The bearer token does not match SIDECAR_API_TOKEN');
  };
}

export const WWW_AUTHENTICATE = (err: ApiError) =>
  err.code === 'invalid_token'
    ? 'Bearer realm="astrdesk-sidecar", error="invalid_token"'
    : 'Bearer realm="astrdesk-sidecar"';

/** Hono middleware form of {@link bearerChecker}. */
export function bearerAuth(token: string): MiddlewareHandler<AppEnv> {
  const check = bearerChecker(token);
  return async (c, next) => {
    try {
      check(c.req.header('authorization'));
    } catch (err) {
      if (err instanceof ApiError) c.header('www-authenticate', WWW_AUTHENTICATE(err));
      throw err;
    }
    await next();
  };
}

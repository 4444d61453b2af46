import { describeErrorCode, type ErrorCode, type ErrorEnvelope } from '@astrdesk/protocol';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import type { AppEnv } from './context.js';

/**
 * An error the API answers with on purpose. Throw it from any handler or service; the app's
 * error handler turns it into the envelope with the status its code maps to in protocol.
 *
 * @example throw new ApiError('not_found', 'No such member', { param: 'id' })
 */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: {
      param?: string;
      details?: Record<string, unknown>;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = describeErrorCode(code).status;
    this.param = opts.param;
    this.details = opts.details;
    this.headers = opts.headers;
  }
}

export const notFound = (what: string, param = 'id') =>
  new ApiError('not_found', `No such ${what}`, { param });

export function envelope(
  code: ErrorCode,
  message: string,
  requestId: string,
  extra: { param?: string | undefined; details?: Record<string, unknown> | undefined } = {},
): ErrorEnvelope {
  const { type } = describeErrorCode(code);
  return {
    error: {
      type,
      code,
      message,
      ...(extra.param !== undefined ? { param: extra.param } : {}),
      request_id: requestId,
      ...(extra.details !== undefined ? { details: extra.details } : {}),
    },
  };
}

export function errorResponse(c: Context<AppEnv>, err: ApiError): Response {
  const body = envelope(err.code, err.message, c.get('requestId') ?? 'unknown', {
    param: err.param,
    details: err.details,
  });
  for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
  return c.json(body, err.status as ContentfulStatusCode);
}

/** A zod failure as a 400 naming the first bad field (`param`) and listing every issue. */
export function fromZodError(error: ZodError, target: string): ApiError {
  const first = error.issues[0];
  const param = first && first.path.length > 0 ? first.path.join('.') : undefined;
  const where = target === 'json' ? 'body' : target;
  const message = first
    ? first.code === 'unrecognized_keys'
      ? `Unknown field${first.keys.length > 1 ? 's' : ''} in ${where}: ${first.keys.join(', ')}`
      : `Invalid ${where}${param ? ` field "${param}"` : ''}: ${first.message}`
    : `Invalid ${where}`;
  return new ApiError('validation_failed', message, {
    ...(first?.code === 'unrecognized_keys'
      ? { param: first.keys[0] ?? '' }
      : param
        ? { param }
        : {}),
    details: {
      issues: error.issues.map((i) => ({
        path: i.path.join('.'),
        code: i.code,
        message: i.message,
      })),
    },
  });
}

/** Maps anything thrown to an ApiError; unknown errors become a 500 that reveals nothing. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) {
    const status = err.status;
    if (status === 400 && /json/i.test(err.message))
      return new ApiError('invalid_json', 'Malformed JSON in request body');
    if (status === 413) return new ApiError('payload_too_large', 'Request body too large');
    if (status === 415)
      return new ApiError('unsupported_media_type', 'Content-Type must be application/json');
    if (status === 401)
      return new ApiError('unauthenticated', err.message || 'Authentication required');
    if (status === 404) return new ApiError('not_found', err.message || 'Not found');
    if (status < 500) return new ApiError('validation_failed', err.message || 'Bad request');
  }
  return new ApiError('internal_error', 'Internal server error');
}

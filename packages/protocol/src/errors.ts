import { z } from 'zod';

/** The `type` of an error groups codes the way clients branch on them. */
export const ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'not_found_error',
  'conflict_error',
  'rate_limit_error',
  'api_error',
] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

/**
 * Every error code the API can answer, with its HTTP status and type. One map, so the
 * server, the SDK and the docs can never disagree on what a code means.
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  validation_failed: { status: 400, type: 'invalid_request_error' },
  invalid_cursor: { status: 400, type: 'invalid_request_error' },
  invalid_state_transition: { status: 409, type: 'conflict_error' },
  conversation_closed: { status: 409, type: 'conflict_error' },
  text_too_long: { status: 400, type: 'invalid_request_error' },
  target_not_allowed: { status: 400, type: 'invalid_request_error' },
  unauthenticated: { status: 401, type: 'authentication_error' },
  invalid_token: { status: 401, type: 'authentication_error' },
  invalid_credentials: { status: 401, type: 'authentication_error' },
  token_expired: { status: 401, type: 'authentication_error' },
  token_revoked: { status: 401, type: 'authentication_error' },
  tenant_not_active: { status: 403, type: 'permission_error' },
  member_disabled: { status: 403, type: 'permission_error' },
  insufficient_scope: { status: 403, type: 'permission_error' },
  forbidden: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'not_found_error' },
  route_not_found: { status: 404, type: 'not_found_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  conflict: { status: 409, type: 'conflict_error' },
  already_exists: { status: 409, type: 'conflict_error' },
  idempotency_key_in_use: { status: 409, type: 'conflict_error' },
  idempotency_key_mismatch: { status: 422, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  internal_error: { status: 500, type: 'api_error' },
  service_unavailable: { status: 503, type: 'api_error' },
} as const satisfies Record<string, { status: number; type: ErrorType }>;

export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

export const ErrorBody = z
  .object({
    type: z.enum(ERROR_TYPES),
    code: z.enum(ERROR_CODE_LIST),
    message: z.string(),
    param: z.string().optional().meta({ description: 'The request field the error is about' }),
    request_id: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'ErrorBody' });

/** `{ "error": { type, code, message, param?, request_id } }` — the body of every non-2xx answer. */
export const ErrorEnvelope = z.object({ error: ErrorBody }).meta({ id: 'ErrorEnvelope' });
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;

/** Status and type of a code; unknown codes are treated as internal errors. */
export function describeErrorCode(code: string): { status: number; type: ErrorType } {
  return (
    (ERROR_CODES as Record<string, { status: number; type: ErrorType }>)[code] ??
    ERROR_CODES.internal_error
  );
}

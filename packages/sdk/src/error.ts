import type { ErrorCode, ErrorType } from '@astrdesk/protocol';
import { parseRetryAfterMs } from './internal/retry-after.js';

/** Base class of every error the SDK throws. */
export class AstrDeskError extends Error {
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AstrDeskError';
  }
}

/** The `error` object of the API's error envelope, as far as it could be read. */
interface Envelope {
  type?: unknown;
  code?: unknown;
  message?: unknown;
  param?: unknown;
  request_id?: unknown;
  details?: unknown;
}

function envelopeOf(body: unknown): Envelope | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  return typeof error === 'object' && error !== null ? (error as Envelope) : undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * The API answered with a non-2xx status. `code`, `type`, `param` and `requestId` come from
 * the error envelope `{ error: { type, code, message, param?, request_id, details? } }`;
 * `requestId` falls back to the `x-request-id` header. `error` is the raw body.
 */
export class APIError extends AstrDeskError {
  /** HTTP status of the answer. */
  readonly status: number;
  /** Response headers. */
  readonly headers: Headers;
  /** The body as received: the parsed JSON envelope, or the text when it was not JSON. */
  readonly error: unknown;
  /** Machine-readable error code, e.g. `validation_failed` (see `ERROR_CODES` in @astrdesk/protocol). */
  readonly code: ErrorCode | (string & {}) | undefined;
  /** Error group, e.g. `invalid_request_error`. */
  readonly type: ErrorType | (string & {}) | undefined;
  /** The request field the error is about, when there is one. */
  readonly param: string | undefined;
  /** Extra structured information, e.g. `{ issues: [...] }` for validation errors. */
  readonly details: Record<string, unknown> | undefined;
  /** The request id to quote to support (`x-request-id`). */
  readonly requestId: string | undefined;

  constructor(
    status: number,
    body: unknown,
    message: string | undefined,
    headers: Headers | HeadersInit | undefined,
  ) {
    const h = headers instanceof Headers ? headers : new Headers(headers);
    const env = envelopeOf(body);
    const code = str(env?.code);
    const text =
      str(env?.message) ??
      str(message) ??
      (typeof body === 'string' ? str(body.slice(0, 500)) : undefined);
    super(`${status} ${code ? `${code}: ` : ''}${text ?? 'status code (no body)'}`);
    this.name = 'APIError';
    this.status = status;
    this.headers = h;
    this.error = body;
    this.code = code;
    this.type = str(env?.type);
    this.param = str(env?.param);
    this.details =
      typeof env?.details === 'object' && env.details !== null
        ? (env.details as Record<string, unknown>)
        : undefined;
    this.requestId = str(env?.request_id) ?? h.get('x-request-id') ?? undefined;
  }

  /** The error class for a status: `BadRequestError` for 400, `NotFoundError` for 404... */
  static generate(
    status: number,
    body: unknown,
    message: string | undefined,
    headers: Headers | HeadersInit | undefined,
  ): APIError {
    switch (status) {
      case 400:
        return new BadRequestError(status, body, message, headers);
      case 401:
        return new AuthenticationError(status, body, message, headers);
      case 403:
        return new PermissionDeniedError(status, body, message, headers);
      case 404:
        return new NotFoundError(status, body, message, headers);
      case 409:
        return new ConflictError(status, body, message, headers);
      case 422:
        return new UnprocessableEntityError(status, body, message, headers);
      case 429:
        return new RateLimitError(status, body, message, headers);
      default:
        if (status >= 500) return new InternalServerError(status, body, message, headers);
        return new APIError(status, body, message, headers);
    }
  }
}

/** 400: the request was malformed or failed validation (`validation_failed`, `invalid_json`, `invalid_cursor`). */
export class BadRequestError extends APIError {
  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'BadRequestError';
  }
}

/** 401: missing, invalid, expired or revoked credential. */
export class AuthenticationError extends APIError {
  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'AuthenticationError';
  }
}

/** 403: the credential may not do this (`insufficient_scope`, `tenant_not_active`, `forbidden`...). */
export class PermissionDeniedError extends APIError {
  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'PermissionDeniedError';
  }
}

/** 404: no such resource in this tenant (another tenant's ids answer 404 too). */
export class NotFoundError extends APIError {
  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'NotFoundError';
  }
}

/** 409: conflicts with the current state (`already_exists`, `invalid_state_transition`...). */
export class ConflictError extends APIError {
  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'ConflictError';
  }
}

/** 422: e.g. `idempotency_key_mismatch`, an Idempotency-Key reused with a different request. */
export class UnprocessableEntityError extends APIError {
  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'UnprocessableEntityError';
  }
}

/** 429: rate limited. `retryAfter` is how many seconds the server asked to wait, when it said. */
export class RateLimitError extends APIError {
  readonly retryAfter: number | undefined;

  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'RateLimitError';
    const ms = parseRetryAfterMs(this.headers);
    this.retryAfter = ms === undefined ? undefined : ms / 1000;
  }
}

/** 5xx: the server failed. */
export class InternalServerError extends APIError {
  constructor(...args: ConstructorParameters<typeof APIError>) {
    super(...args);
    this.name = 'InternalServerError';
  }
}

/** The request never got an answer: DNS, refused or reset connection, TLS... `cause` holds the underlying error. */
export class APIConnectionError extends AstrDeskError {
  constructor(options: { message?: string | undefined; cause?: unknown } = {}) {
    super(
      options.message ?? 'Connection error.',
      'cause' in options ? { cause: options.cause } : undefined,
    );
    this.name = 'APIConnectionError';
  }
}

/** No answer within the `timeout`. */
export class APITimeoutError extends APIConnectionError {
  constructor(options: { message?: string | undefined; cause?: unknown } = {}) {
    super({ message: 'Request timed out.', ...options });
    this.name = 'APITimeoutError';
  }
}

/** The caller's `signal` aborted the request. Never retried. */
export class APIUserAbortError extends AstrDeskError {
  constructor(options: { message?: string | undefined; cause?: unknown } = {}) {
    super(
      options.message ?? 'Request was aborted.',
      'cause' in options ? { cause: options.cause } : undefined,
    );
    this.name = 'APIUserAbortError';
  }
}

/** Why {@link WebhookVerificationError} was thrown. */
export type WebhookVerificationErrorCode =
  | 'missing_secret'
  | 'missing_header'
  | 'invalid_header'
  | 'no_signature'
  | 'signature_mismatch'
  | 'timestamp_out_of_tolerance'
  | 'invalid_payload';

/**
 * A webhook request failed verification: no or malformed `AstrDesk-Signature` header, no
 * signature matching the body and secret, a timestamp outside the tolerance, or a body that
 * is not an event envelope. Answer such a request with 400 and do not act on it.
 */
export class WebhookVerificationError extends AstrDeskError {
  readonly code: WebhookVerificationErrorCode;

  constructor(code: WebhookVerificationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

/**
 * A realtime connection failed in a way the application should know about. `code` is the
 * server's close reason or error frame code (`unauthorized`, `policy_violation`...), and
 * `closeCode` the WebSocket close code when the socket was closed.
 */
export class RealtimeError extends AstrDeskError {
  readonly code: string;
  readonly closeCode: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { closeCode?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'RealtimeError';
    this.code = code;
    this.closeCode = options.closeCode;
  }
}

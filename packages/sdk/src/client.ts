import type { PageOf } from '@astrdesk/protocol';
import { APIPromise, type APIResponse } from './api-promise.js';
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  AstrDeskError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  RealtimeError,
  UnprocessableEntityError,
  WebhookVerificationError,
} from './error.js';
import {
  backoffDelayMs,
  buildQuery,
  type HeadersLike,
  isNodeLike,
  joinURL,
  MAX_RETRY_AFTER_MS,
  mergeHeaders,
  nodeVersion,
  parseRetryAfterMs,
  type Query,
  readEnv,
  sleep,
  uuid4,
} from './internal/utils.js';
import { Page, PagePromise } from './pagination.js';
import { AdminResource } from './resources/admin.js';
import { ApiKeysResource } from './resources/api-keys.js';
import { AuthResource } from './resources/auth.js';
import { BlacklistResource } from './resources/blacklist.js';
import { ContactsResource } from './resources/contacts.js';
import { ConversationsResource } from './resources/conversations.js';
import { InstancesResource } from './resources/instances.js';
import { MeResource } from './resources/me.js';
import { MembersResource } from './resources/members.js';
import { MessagesResource } from './resources/messages.js';
import { PresenceResource } from './resources/presence.js';
import { RealtimeResource } from './resources/realtime.js';
import { TenantResource } from './resources/tenant.js';
import { WebhookEndpointsResource } from './resources/webhook-endpoints.js';
import { WebhooksResource } from './resources/webhooks.js';
import { VERSION } from './version.js';

/** The `fetch` the client calls: the global one by default, or any compatible implementation. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export type HTTPMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ClientOptions {
  /**
   * Bearer credential: an API key (`adk_...`), a member session token (`ads_...`) or an
   * operator token. Defaults to `ASTRDESK_API_KEY` when `process.env` exists. Pass `null` to
   * send no credential (signup, login).
   */
  apiKey?: string | null | undefined;
  /** Where the API lives, e.g. `https://astrdesk.example.com`. Defaults to `ASTRDESK_BASE_URL`. */
  baseURL?: string | null | undefined;
  /** Milliseconds to wait for each attempt's answer before it counts as timed out. Default 60 000. */
  timeout?: number | undefined;
  /** How many times a failed request is retried (connection errors, timeouts, 408, 429, 5xx). Default 2. */
  maxRetries?: number | undefined;
  /** A `fetch` implementation to use instead of the global one (proxies, tests, instrumentation). */
  fetch?: Fetch | undefined;
  /** Headers sent with every request. A `null` value removes a header the SDK would send. */
  defaultHeaders?: HeadersLike | undefined;
  /** Prepended to the `Idempotency-Key` the SDK generates for writes. */
  idempotencyKeyPrefix?: string | undefined;
}

export interface RequestOptions {
  /** Overrides the client's `timeout` for this request. */
  timeout?: number | undefined;
  /** Overrides the client's `maxRetries` for this request. */
  maxRetries?: number | undefined;
  /** The `Idempotency-Key` to send instead of a generated one (writes only get one by default). */
  idempotencyKey?: string | undefined;
  /** Aborts the request (and any pending retry); the promise rejects with `APIUserAbortError`. */
  signal?: AbortSignal | undefined;
  /** Extra headers for this request. A `null` value removes a header. */
  headers?: HeadersLike | undefined;
}

export interface FinalRequestOptions extends RequestOptions {
  method: HTTPMethod;
  path: string;
  query?: Query | undefined;
  body?: unknown;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RETRIES = 2;
const WRITE_METHODS: ReadonlySet<HTTPMethod> = new Set(['post', 'put', 'patch', 'delete']);

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0)
    throw new AstrDeskError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}

function positiveNumber(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) {
    throw new AstrDeskError(`${name} must be a positive number of milliseconds, got ${value}`);
  }
  return value;
}

/** Whether an error answer is worth retrying. */
function isRetryable(status: number, body: unknown): boolean {
  if (status === 408 || status === 429 || status >= 500) return true;
  if (status === 409) {
    // Another attempt with our Idempotency-Key is still running: wait for it to finish.
    const code = (body as { error?: { code?: unknown } } | null | undefined)?.error?.code;
    return code === 'idempotency_key_in_use';
  }
  return false;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * The AstrDesk API client, for Node and browsers.
 *
 * @example
 * import AstrDesk from '@astrdesk/sdk';
 *
 * const client = new AstrDesk({ apiKey: process.env.ASTRDESK_API_KEY, baseURL: 'https://astrdesk.example.com' });
 * const me = await client.me.retrieve();
 * for await (const member of client.members.list()) console.log(member.email);
 */
export class AstrDesk {
  readonly apiKey: string | null;
  readonly baseURL: string;
  readonly timeout: number;
  readonly maxRetries: number;

  readonly #options: ClientOptions;
  readonly #fetch: Fetch;
  readonly #defaultHeaders: HeadersLike | undefined;
  readonly #idempotencyKeyPrefix: string;

  /** The calling tenant: retrieve and update its profile, sign up a new one. */
  readonly tenant: TenantResource = new TenantResource(this);
  /** Members of the calling tenant. */
  readonly members: MembersResource = new MembersResource(this);
  /** API keys of the calling tenant. */
  readonly apiKeys: ApiKeysResource = new ApiKeysResource(this);
  /** Who the credential is. */
  readonly me: MeResource = new MeResource(this);
  /** Member login, logout and invite acceptance. */
  readonly auth: AuthResource = new AuthResource(this);
  /** Operator console: tenant approval and platform settings (operator token only). */
  readonly admin: AdminResource = new AdminResource(this);
  /** AstrBot instances and their sidecar tokens. */
  readonly instances: InstancesResource = new InstancesResource(this);
  /** Users whose messages the sidecars block, with the audit log and block statistics. */
  readonly blacklist: BlacklistResource = new BlacklistResource(this);
  /** End users who wrote in on an IM platform. */
  readonly contacts: ContactsResource = new ContactsResource(this);
  /** Conversations, their lifecycle, messages and settings. */
  readonly conversations: ConversationsResource = new ConversationsResource(this);
  /** Who is online, and your own status. */
  readonly presence: PresenceResource = new PresenceResource(this);
  /** Message search across conversations. */
  readonly messages: MessagesResource = new MessagesResource(this);
  /** Webhook endpoints and their delivery log. */
  readonly webhookEndpoints: WebhookEndpointsResource = new WebhookEndpointsResource(this);
  /** Verifies the signatures of webhook requests (no request is made). */
  readonly webhooks: WebhooksResource = new WebhooksResource(this);
  /** The tenant's events as they happen, over a WebSocket. */
  readonly realtime: RealtimeResource = new RealtimeResource(this);

  constructor(options: ClientOptions = {}) {
    const baseURL = options.baseURL ?? readEnv('ASTRDESK_BASE_URL');
    if (baseURL === undefined || baseURL === null || baseURL.trim() === '') {
      throw new AstrDeskError(
        'No baseURL: pass new AstrDesk({ baseURL: "https://..." }) or set the ASTRDESK_BASE_URL environment variable',
      );
    }
    this.baseURL = baseURL.trim().replace(/\/+$/, '');
    this.apiKey =
      options.apiKey === undefined ? (readEnv('ASTRDESK_API_KEY') ?? null) : options.apiKey;
    this.timeout = positiveNumber('timeout', options.timeout, DEFAULT_TIMEOUT_MS);
    this.maxRetries = nonNegativeInteger('maxRetries', options.maxRetries, DEFAULT_MAX_RETRIES);
    const customFetch = options.fetch;
    // Calling the global fetch as a method of another object throws "Illegal invocation" in browsers.
    this.#fetch = customFetch ?? ((url, init) => globalThis.fetch(url, init));
    if (!customFetch && typeof globalThis.fetch !== 'function') {
      throw new AstrDeskError('No global fetch in this runtime: pass new AstrDesk({ fetch })');
    }
    this.#defaultHeaders = options.defaultHeaders;
    this.#idempotencyKeyPrefix = options.idempotencyKeyPrefix ?? '';
    this.#options = { ...options, baseURL: this.baseURL, apiKey: this.apiKey };
  }

  /**
   * A new client with these options changed, e.g. the session token after a login.
   *
   * @example
   * const session = await client.auth.login({ email, password });
   * const asMember = client.withOptions({ apiKey: session.token });
   */
  withOptions(options: ClientOptions): this {
    const Ctor = this.constructor as new (o: ClientOptions) => this;
    return new Ctor({ ...this.#options, ...options });
  }

  get<T>(path: string, opts?: RequestOptions & { query?: Query | undefined }): APIPromise<T> {
    return this.request<T>({ ...opts, method: 'get', path });
  }

  post<T>(
    path: string,
    opts?: RequestOptions & { query?: Query | undefined; body?: unknown },
  ): APIPromise<T> {
    return this.request<T>({ ...opts, method: 'post', path });
  }

  put<T>(
    path: string,
    opts?: RequestOptions & { query?: Query | undefined; body?: unknown },
  ): APIPromise<T> {
    return this.request<T>({ ...opts, method: 'put', path });
  }

  patch<T>(
    path: string,
    opts?: RequestOptions & { query?: Query | undefined; body?: unknown },
  ): APIPromise<T> {
    return this.request<T>({ ...opts, method: 'patch', path });
  }

  delete<T>(
    path: string,
    opts?: RequestOptions & { query?: Query | undefined; body?: unknown },
  ): APIPromise<T> {
    return this.request<T>({ ...opts, method: 'delete', path });
  }

  /** A list endpoint: awaitable as its first page, async-iterable over every item. */
  getAPIList<Item>(
    path: string,
    query: Query | undefined,
    options?: RequestOptions,
  ): PagePromise<Item> {
    const fetchPage = (q: Query | undefined): PagePromise<Item> =>
      new PagePromise<Item>(
        this.request<PageOf<Item>>({ ...options, method: 'get', path, query: q })
          .withResponse()
          .then((r) => ({
            ...r,
            data: new Page<Item>(r.data, (cursor) => fetchPage({ ...q, cursor })),
          })),
      );
    return fetchPage(query);
  }

  /** Sends a request with retries, timeouts and idempotency; resolves with the parsed body. */
  request<T>(req: FinalRequestOptions): APIPromise<T> {
    return new APIPromise<T>(this.#send<T>(req));
  }

  /**
   * Waits between attempts. Tests replace it to observe delays without waiting for them.
   * @internal
   */
  protected sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleep(ms, signal);
  }

  /**
   * The delay before retry number `retry` (0-based) when the server did not say: exponential
   * backoff (0.5 s doubling, capped at 8 s) with full jitter.
   * @internal
   */
  protected backoffDelay(retry: number): number {
    return backoffDelayMs(retry);
  }

  #headers(
    req: FinalRequestOptions,
    idempotencyKey: string | undefined,
    hasBody: boolean,
  ): Record<string, string> {
    const base: HeadersLike = {
      accept: 'application/json',
      'x-astrdesk-sdk': `js/${VERSION}`,
    };
    if (hasBody) base['content-type'] = 'application/json';
    if (this.apiKey) base.authorization = `Bearer ${this.apiKey}`;
    // Browsers forbid setting User-Agent (and it would force a CORS preflight); Node allows it.
    if (isNodeLike())
      base['user-agent'] = `astrdesk-sdk-js/${VERSION} node/${nodeVersion() ?? 'unknown'}`;
    return mergeHeaders(
      base,
      this.#defaultHeaders,
      idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : undefined,
      req.headers,
      req.idempotencyKey !== undefined ? { 'idempotency-key': req.idempotencyKey } : undefined,
    );
  }

  async #send<T>(req: FinalRequestOptions): Promise<APIResponse<T>> {
    const url = joinURL(this.baseURL, req.path) + buildQuery(req.query);
    const maxRetries = nonNegativeInteger('maxRetries', req.maxRetries, this.maxRetries);
    const timeout = positiveNumber('timeout', req.timeout, this.timeout);
    const isWrite = WRITE_METHODS.has(req.method);
    // One key per logical request, reused by every retry so the server runs the write once.
    const idempotencyKey =
      req.idempotencyKey ?? (isWrite ? `${this.#idempotencyKeyPrefix}${uuid4()}` : undefined);
    const hasBody = req.body !== undefined;
    const body = hasBody ? JSON.stringify(req.body) : undefined;
    const headers = this.#headers(req, idempotencyKey, hasBody);
    const callerSignal = req.signal;

    for (let attempt = 0; ; attempt++) {
      const retriesLeft = maxRetries - attempt;
      if (callerSignal?.aborted) throw new APIUserAbortError({ cause: callerSignal.reason });

      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeout);
      const onCallerAbort = () => controller.abort(callerSignal?.reason);
      callerSignal?.addEventListener('abort', onCallerAbort, { once: true });

      let response: Response;
      let text: string;
      try {
        const init: RequestInit = {
          method: req.method.toUpperCase(),
          headers,
          signal: controller.signal,
        };
        if (body !== undefined) init.body = body;
        response = await this.#fetch(url, init);
        text = await response.text();
      } catch (err) {
        if (callerSignal?.aborted) throw new APIUserAbortError({ cause: callerSignal.reason });
        const error = timedOut
          ? new APITimeoutError({ cause: err })
          : new APIConnectionError({ cause: err });
        if (retriesLeft <= 0) throw error;
        await this.#wait(this.backoffDelay(attempt), callerSignal);
        continue;
      } finally {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onCallerAbort);
      }

      const requestId = response.headers.get('x-request-id') ?? undefined;
      if (response.ok) {
        let data: unknown;
        if (response.status === 204 || text === '') {
          data = undefined;
        } else {
          try {
            data = JSON.parse(text);
          } catch (err) {
            throw new AstrDeskError(
              `Could not parse the response of ${req.method.toUpperCase()} ${req.path} as JSON`,
              {
                cause: err,
              },
            );
          }
        }
        return { data: data as T, response, requestId };
      }

      const errorBody = parseBody(text);
      if (retriesLeft > 0 && isRetryable(response.status, errorBody)) {
        const asked = parseRetryAfterMs(response.headers);
        // A wait longer than we are willing to sleep goes back to the caller (RateLimitError.retryAfter).
        if (asked === undefined || asked <= MAX_RETRY_AFTER_MS) {
          await this.#wait(asked ?? this.backoffDelay(attempt), callerSignal);
          continue;
        }
      }
      throw APIError.generate(
        response.status,
        errorBody,
        response.statusText || undefined,
        response.headers,
      );
    }
  }

  async #wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.sleep(ms, signal);
    } catch (err) {
      if (signal?.aborted) throw new APIUserAbortError({ cause: signal.reason });
      throw err;
    }
  }

  static readonly VERSION = VERSION;
  static readonly AstrDeskError = AstrDeskError;
  static readonly APIError = APIError;
  static readonly APIConnectionError = APIConnectionError;
  static readonly APITimeoutError = APITimeoutError;
  static readonly APIUserAbortError = APIUserAbortError;
  static readonly BadRequestError = BadRequestError;
  static readonly AuthenticationError = AuthenticationError;
  static readonly PermissionDeniedError = PermissionDeniedError;
  static readonly NotFoundError = NotFoundError;
  static readonly ConflictError = ConflictError;
  static readonly UnprocessableEntityError = UnprocessableEntityError;
  static readonly RateLimitError = RateLimitError;
  static readonly InternalServerError = InternalServerError;
  static readonly WebhookVerificationError = WebhookVerificationError;
  static readonly RealtimeError = RealtimeError;
}

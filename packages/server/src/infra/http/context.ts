import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Scope } from '@astrdesk/protocol';
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { Services } from '../services.js';

export type Principal =
  | { kind: 'operator'; id: string; tenantId: null; scopes: readonly Scope[]; credentialId: string }
  | {
      kind: 'member';
      id: string;
      tenantId: string;
      role: 'owner' | 'admin' | 'agent';
      scopes: readonly Scope[];
      credentialId: string;
      sessionId: string;
    }
  | {
      kind: 'api_key';
      id: string;
      tenantId: string;
      scopes: readonly Scope[];
      credentialId: string;
      name: string;
      prefix: string;
    }
  | {
      kind: 'instance';
      id: string;
      tenantId: string;
      scopes: readonly Scope[];
      credentialId: string;
    };

/** Hono env of every route: what middleware puts on the context for handlers. */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    services: Services;
    /** Set by the auth middleware of every authenticated route. */
    principal: Principal;
    /**
     * The tenant every query of a tenant route is scoped to: taken from the credential, never
     * from the request. Set by the auth middleware for tenant routes only.
     */
    tenantId: string;
    /** The route pattern that matched, for logs and metrics. */
    routePattern: string;
  };
}

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

/**
 * A request header, read from Node's already-parsed headers when the app runs on
 * @hono/node-server. `c.req.header()` makes the adapter build a fetch `Headers` of every
 * request header first, which costs more than the rest of a small authenticated GET; under
 * `app.request()` (tests) it falls back to that.
 *
 * @example const auth = requestHeader(c, 'authorization'); // name in lower case
 */
export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = (c.env as NodeBindings | undefined)?.incoming;
  if (!incoming) return c.req.header(name);
  const v = incoming.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Sets a response header on every answer of this request, whatever the handler returns. On
 * Node it goes straight to the `ServerResponse` (merged into the final `writeHead`), so the
 * handler's response stays a plain object the adapter writes without building a fetch
 * `Headers`; elsewhere it uses `c.header()`.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const outgoing = (c.env as NodeBindings | undefined)?.outgoing;
  if (outgoing && !outgoing.headersSent) outgoing.setHeader(name, value);
  else c.header(name, value);
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The id of a request: the caller's `x-request-id` when it is a sane token (so traces join up
 * across services), else a new `req_...` id.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : newRequestId();
}

// Request ids need to be unique, not secret or time-ordered: a random per-process prefix and a
// counter cost nothing per request, where a random id costs a CSPRNG call.
const REQUEST_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let requestCounter = 0;

/** A new request id, unique across processes (`req_` + 12 random hex + a base-36 counter). */
export function newRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${REQUEST_PREFIX}${requestCounter.toString(36).padStart(6, '0')}`;
}

/**
 * The request's logger: a child of `log` bound to the request id, made on first use. Most
 * requests log nothing but the access line (written by the app with the parent logger), and a
 * pino child costs more to make than the rest of a cached-credential GET.
 */
export function lazyRequestLogger(log: Logger, requestId: string): Logger {
  let child: Logger | undefined;
  return new Proxy(log, {
    get(_target, prop) {
      child ??= log.child({ request_id: requestId });
      const v: unknown = Reflect.get(child, prop, child);
      return typeof v === 'function' ? v.bind(child) : v;
    },
  });
}

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

export { newRequestId, requestIdFrom } from '@astrdesk/protocol';

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

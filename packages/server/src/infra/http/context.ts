import type { Scope } from '@astrdesk/protocol';
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

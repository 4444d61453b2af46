import { z } from 'zod';

/**
 * Every API-key scope. A route declares the one it needs; member sessions get the scopes of
 * their role (see {@link ROLE_SCOPES}).
 */
export const SCOPES = [
  'tenant:read',
  'tenant:write',
  'members:read',
  'members:write',
  'api_keys:read',
  'api_keys:write',
  'conversations:read',
  'conversations:write',
  'messages:read',
  'messages:write',
  'contacts:read',
  'instances:read',
  'instances:write',
  'blacklist:read',
  'blacklist:write',
  'webhooks:read',
  'webhooks:write',
  'analytics:read',
  'config:read',
  'config:write',
  'llm:write',
  'widget_tokens:write',
] as const;
export const Scope = z.enum(SCOPES).meta({ id: 'Scope' });
export type Scope = z.infer<typeof Scope>;

export const ROLES = ['owner', 'admin', 'agent'] as const;
export const Role = z.enum(ROLES).meta({ id: 'Role' });
export type Role = z.infer<typeof Role>;

const AGENT_SCOPES: readonly Scope[] = [
  'tenant:read',
  'members:read',
  'conversations:read',
  'conversations:write',
  'messages:read',
  'messages:write',
  'contacts:read',
  'instances:read',
  'blacklist:read',
  'analytics:read',
];

/** What a logged-in member may do, by role. Owners and admins may do everything. */
export const ROLE_SCOPES: Record<Role, readonly Scope[]> = {
  owner: SCOPES,
  admin: SCOPES,
  agent: AGENT_SCOPES,
};

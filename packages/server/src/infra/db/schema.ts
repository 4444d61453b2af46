import type { Generated } from 'kysely';

/**
 * Table shapes as stored. Times are integer milliseconds, booleans 0/1, lists JSON text —
 * the common ground of SQLite and PostgreSQL, so one set of queries serves both.
 */
export interface TenantsTable {
  id: string;
  status: string;
  status_reason: string | null;
  company_name: string;
  contact_name: string;
  contact_email: string;
  contact_phone: string | null;
  business_size: string | null;
  industry: string | null;
  created_at: number;
  updated_at: number;
  approved_at: number | null;
}

export interface TenantStatusEventsTable {
  id: Generated<number>;
  tenant_id: string;
  from_status: string | null;
  to_status: string;
  actor: string;
  reason: string | null;
  created_at: number;
}

export interface MembersTable {
  id: string;
  tenant_id: string;
  email: string;
  name: string;
  role: string;
  password_hash: string | null;
  disabled: number;
  invite_token_hash: string | null;
  invite_expires_at: number | null;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
}

export interface SessionsTable {
  id: string;
  token_hash: string;
  member_id: string;
  tenant_id: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  last4: string;
  secret_hash: string;
  scopes: string;
  rate_limit_per_minute: number | null;
  created_by: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface ApiKeyUsageTable {
  key_id: string;
  tenant_id: string;
  minute: number;
  count: number;
}

export interface OperatorsTable {
  id: string;
  name: string;
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
}

export interface PlatformSettingsTable {
  key: string;
  value: string;
  updated_at: number;
}

export interface IdempotencyKeysTable {
  principal_id: string;
  key: string;
  request_hash: string;
  state: string;
  status_code: number | null;
  response_body: string | null;
  created_at: number;
}

export interface Database {
  tenants: TenantsTable;
  tenant_status_events: TenantStatusEventsTable;
  members: MembersTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  api_key_usage: ApiKeyUsageTable;
  operators: OperatorsTable;
  platform_settings: PlatformSettingsTable;
  idempotency_keys: IdempotencyKeysTable;
}

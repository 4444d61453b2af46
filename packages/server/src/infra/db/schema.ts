import type { ColumnType, Generated } from 'kysely';

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

export interface InstancesTable {
  id: string;
  tenant_id: string;
  name: string;
  platforms: string;
  token_hash: string;
  token_prefix: string;
  created_at: number;
  updated_at: number;
  last_seen_at: number | null;
  applied_revision: ColumnType<number, number | undefined, number>;
  applied_at: number | null;
  connected: ColumnType<number, number | undefined, number>;
  connected_at: number | null;
  sidecar_version: string | null;
}

export interface BlacklistEntriesTable {
  id: string;
  tenant_id: string;
  platform: string;
  platform_user_id: string;
  reason: string | null;
  expires_at: number | null;
  operator: string;
  created_at: number;
  updated_at: number;
}

export interface BlacklistRevisionsTable {
  tenant_id: string;
  revision: number;
}

export interface BlacklistChangesTable {
  tenant_id: string;
  revision: number;
  op: string;
  entry_id: string;
  platform: string;
  platform_user_id: string;
  reason: string | null;
  expires_at: number | null;
  created_at: number;
}

export interface BlacklistAuditTable {
  id: Generated<number>;
  tenant_id: string;
  action: string;
  entry_id: string;
  platform: string;
  platform_user_id: string;
  before: string | null;
  after: string | null;
  actor: string;
  revision: number;
  created_at: number;
}

export interface ContactsTable {
  id: string;
  tenant_id: string;
  platform: string;
  platform_user_id: string;
  nickname: string | null;
  avatar_url: string | null;
  /** AstrBot adapter name for platform `other`; null for the platforms in the enum. */
  adapter: string | null;
  first_seen_at: number;
  last_seen_at: number;
}

export interface ConversationsTable {
  id: string;
  tenant_id: string;
  contact_id: string;
  instance_id: string | null;
  platform: string;
  session_id: string | null;
  state: string;
  assigned_agent_id: string | null;
  transfer_from_agent_id: string | null;
  transfer_to_agent_id: string | null;
  transfer_note: string | null;
  transfer_requested_at: number | null;
  last_message_preview: string | null;
  last_activity_at: number;
  unread_count: number;
  message_count: number;
  created_at: number;
  updated_at: number;
  first_user_message_at: number | null;
  first_agent_reply_at: number | null;
  assigned_at: number | null;
  closed_at: number | null;
  close_reason: string | null;
  handled_by: string | null;
  handoff_count: number;
  rating_score: number | null;
  rating_comment: string | null;
  rated_at: number | null;
}

export interface ConversationTransitionsTable {
  id: Generated<number>;
  tenant_id: string;
  conversation_id: string;
  action: string;
  from_state: string | null;
  to_state: string;
  actor: string;
  reason: string | null;
  created_at: number;
}

export interface MessagesTable {
  rid: Generated<number>;
  id: string;
  tenant_id: string;
  conversation_id: string;
  contact_id: string | null;
  sender: string;
  agent_id: string | null;
  kind: string;
  text: string | null;
  media: string | null;
  status: string;
  internal: number;
  platform_message_id: string | null;
  search_tokens: string | null;
  created_at: number;
}

export interface DeliveriesTable {
  id: string;
  tenant_id: string;
  message_id: string;
  conversation_id: string;
  instance_id: string | null;
  status: string;
  attempts: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

export interface IngestedEventsTable {
  tenant_id: string;
  event_id: string;
  instance_id: string;
  message_id: string | null;
  created_at: number;
}

export interface EventCountersTable {
  tenant_id: string;
  last_seq: number;
}

export interface EventsTable {
  tenant_id: string;
  seq: number;
  id: string;
  type: string;
  data: string;
  /** `all`, or `admin` for events only owners and admins may see (blocked messages). */
  visibility: string;
  created_at: number;
}

export interface AgentPresenceTable {
  member_id: string;
  tenant_id: string;
  explicit_status: string;
  connections: number;
  heartbeat_at: number | null;
  updated_at: number;
}

export interface TenantSettingsTable {
  tenant_id: string;
  conversation: string;
  updated_at: number;
}

export interface WebhookEndpointsTable {
  id: string;
  tenant_id: string;
  url: string;
  events: string;
  description: string | null;
  enabled: number;
  secret_encrypted: string;
  secret_last4: string;
  created_at: number;
  updated_at: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  tenant_id: string;
  endpoint_id: string;
  event_seq: number;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  locked_until: number | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
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
  instances: InstancesTable;
  contacts: ContactsTable;
  conversations: ConversationsTable;
  conversation_transitions: ConversationTransitionsTable;
  messages: MessagesTable;
  deliveries: DeliveriesTable;
  ingested_events: IngestedEventsTable;
  event_counters: EventCountersTable;
  events: EventsTable;
  agent_presence: AgentPresenceTable;
  tenant_settings: TenantSettingsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  blacklist_entries: BlacklistEntriesTable;
  blacklist_revisions: BlacklistRevisionsTable;
  blacklist_changes: BlacklistChangesTable;
  blacklist_audit: BlacklistAuditTable;
}

import { type Kysely, sql } from 'kysely';
import { isSqlite, serialPk, serialType } from './util.js';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema as it was
export async function up(db: Kysely<any>): Promise<void> {
  const sqlite = isSqlite(db);

  await db.schema
    .createTable('instances')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('platforms', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('token_prefix', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('instances_tenant_idx')
    .on('instances')
    .columns(['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('contacts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('platform_user_id', 'text', (c) => c.notNull())
    .addColumn('nickname', 'text')
    .addColumn('avatar_url', 'text')
    .addColumn('first_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('contacts_identity_uq', ['tenant_id', 'platform', 'platform_user_id'])
    .execute();
  await db.schema
    .createIndex('contacts_tenant_idx')
    .on('contacts')
    .columns(['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('conversations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('contact_id', 'text', (c) =>
      c.notNull().references('contacts.id').onDelete('cascade'),
    )
    .addColumn('instance_id', 'text')
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('assigned_agent_id', 'text')
    .addColumn('transfer_from_agent_id', 'text')
    .addColumn('transfer_to_agent_id', 'text')
    .addColumn('transfer_note', 'text')
    .addColumn('transfer_requested_at', 'bigint')
    .addColumn('last_message_preview', 'text')
    .addColumn('last_activity_at', 'bigint', (c) => c.notNull())
    .addColumn('unread_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('first_user_message_at', 'bigint')
    .addColumn('first_agent_reply_at', 'bigint')
    .addColumn('assigned_at', 'bigint')
    .addColumn('closed_at', 'bigint')
    .addColumn('close_reason', 'text')
    .addColumn('handled_by', 'text')
    .addColumn('handoff_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rating_score', 'integer')
    .addColumn('rating_comment', 'text')
    .addColumn('rated_at', 'bigint')
    .execute();
  await db.schema
    .createIndex('conversations_activity_idx')
    .on('conversations')
    .columns(['tenant_id', 'last_activity_at', 'id'])
    .execute();
  await db.schema
    .createIndex('conversations_state_idx')
    .on('conversations')
    .columns(['tenant_id', 'state', 'last_activity_at'])
    .execute();
  await db.schema
    .createIndex('conversations_agent_idx')
    .on('conversations')
    .columns(['tenant_id', 'assigned_agent_id', 'state'])
    .execute();
  await db.schema
    .createIndex('conversations_contact_idx')
    .on('conversations')
    .columns(['tenant_id', 'contact_id', 'state'])
    .execute();

  await db.schema
    .createTable('conversation_transitions')
    .addColumn('id', serialType(db), serialPk(db))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) =>
      c.notNull().references('conversations.id').onDelete('cascade'),
    )
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('from_state', 'text')
    .addColumn('to_state', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('conversation_transitions_conv_idx')
    .on('conversation_transitions')
    .columns(['conversation_id', 'id'])
    .execute();

  // `rid` is a time-ordered integer key: the full-text index maps to it, and "newest first"
  // is a walk down it.
  await db.schema
    .createTable('messages')
    .addColumn('rid', serialType(db), serialPk(db))
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('conversation_id', 'text', (c) =>
      c.notNull().references('conversations.id').onDelete('cascade'),
    )
    .addColumn('contact_id', 'text')
    .addColumn('sender', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('text', 'text')
    .addColumn('media', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('internal', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('platform_message_id', 'text')
    .addColumn('search_tokens', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('messages_conv_idx')
    .on('messages')
    .columns(['conversation_id', 'rid'])
    .execute();
  await db.schema
    .createIndex('messages_tenant_idx')
    .on('messages')
    .columns(['tenant_id', 'rid'])
    .execute();
  await db.schema
    .createIndex('messages_contact_idx')
    .on('messages')
    .columns(['tenant_id', 'contact_id', 'rid'])
    .execute();
  await db.schema
    .createIndex('messages_agent_idx')
    .on('messages')
    .columns(['tenant_id', 'agent_id', 'rid'])
    .execute();

  if (sqlite) {
    // Contentless FTS5 over pre-tokenised text (CJK bigrams + Latin words, see search/tokenize.ts).
    await sql`create virtual table messages_fts using fts5(tokens, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`.execute(
      db,
    );
  } else {
    await sql`alter table messages add column search_vector tsvector generated always as (to_tsvector('simple', coalesce(search_tokens, ''))) stored`.execute(
      db,
    );
    await sql`create index messages_search_idx on messages using gin (search_vector)`.execute(db);
  }

  await db.schema
    .createTable('deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) =>
      c.notNull().references('messages.id').onDelete('cascade'),
    )
    .addColumn('conversation_id', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('deliveries_instance_idx')
    .on('deliveries')
    .columns(['instance_id', 'status', 'created_at'])
    .execute();

  await db.schema
    .createTable('ingested_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('instance_id', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('ingested_events_pk', ['tenant_id', 'event_id'])
    .execute();

  await db.schema
    .createTable('event_counters')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('visibility', 'text', (c) => c.notNull().defaultTo('all'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('events_pk', ['tenant_id', 'seq'])
    .execute();
  await db.schema.createIndex('events_created_idx').on('events').columns(['created_at']).execute();

  await db.schema
    .createTable('agent_presence')
    .addColumn('member_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('explicit_status', 'text', (c) => c.notNull())
    .addColumn('connections', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('heartbeat_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('tenant_settings')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('conversation', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('webhook_endpoints')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('secret_encrypted', 'text', (c) => c.notNull())
    .addColumn('secret_last4', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_endpoints_tenant_idx')
    .on('webhook_endpoints')
    .columns(['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('endpoint_id', 'text', (c) =>
      c.notNull().references('webhook_endpoints.id').onDelete('cascade'),
    )
    .addColumn('event_seq', 'bigint', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('locked_until', 'bigint')
    .addColumn('last_status_code', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('delivered_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_due_idx')
    .on('webhook_deliveries')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('webhook_deliveries_endpoint_idx')
    .on('webhook_deliveries')
    .columns(['endpoint_id', 'id'])
    .execute();

  await db.schema
    .createTable('webhook_attempts')
    .addColumn('id', serialType(db), serialPk(db))
    .addColumn('delivery_id', 'text', (c) =>
      c.notNull().references('webhook_deliveries.id').onDelete('cascade'),
    )
    .addColumn('status_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('webhook_attempts_delivery_idx')
    .on('webhook_attempts')
    .columns(['delivery_id', 'id'])
    .execute();
}

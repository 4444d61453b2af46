import type { Kysely } from 'kysely';
import { serialPk, serialType } from './util.js';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema as it was
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('blacklist_entries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('platform_user_id', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('expires_at', 'bigint')
    .addColumn('operator', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('blacklist_identity_uq', ['tenant_id', 'platform', 'platform_user_id'])
    .execute();
  await db.schema
    .createIndex('blacklist_tenant_idx')
    .on('blacklist_entries')
    .columns(['tenant_id', 'id'])
    .execute();

  await db.schema
    .createTable('blacklist_revisions')
    .addColumn('tenant_id', 'text', (c) => c.primaryKey())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .execute();

  // One row per change; sidecars replay these after their last applied revision.
  await db.schema
    .createTable('blacklist_changes')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .addColumn('op', 'text', (c) => c.notNull())
    .addColumn('entry_id', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('platform_user_id', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('expires_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('blacklist_changes_pk', ['tenant_id', 'revision'])
    .execute();

  await db.schema
    .createTable('blacklist_audit')
    .addColumn('id', serialType(db), serialPk(db))
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('entry_id', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('platform_user_id', 'text', (c) => c.notNull())
    .addColumn('before', 'text')
    .addColumn('after', 'text')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('blacklist_audit_tenant_idx')
    .on('blacklist_audit')
    .columns(['tenant_id', 'id'])
    .execute();

  await db.schema
    .alterTable('instances')
    .addColumn('applied_revision', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('instances').addColumn('applied_at', 'bigint').execute();
  await db.schema
    .alterTable('instances')
    .addColumn('connected', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('instances').addColumn('connected_at', 'bigint').execute();
  await db.schema.alterTable('instances').addColumn('sidecar_version', 'text').execute();
}

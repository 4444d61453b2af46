import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001_foundation.js';
import * as m0002 from './0002_conversations.js';
import * as m0003 from './0003_blacklist.js';
import * as m0004 from './0004_retention.js';
import * as m0005 from './0005_search_buckets.js';
import * as m0006 from './0006_contact_adapter.js';

/**
 * Every migration, in order. Bundled statically (not read from disk) so the built server
 * carries its migrations with it. Names sort; never rename or edit a shipped one.
 */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_conversations': m0002,
  '0003_blacklist': m0003,
  '0004_retention': m0004,
  '0005_search_buckets': m0005,
  '0006_contact_adapter': m0006,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};

import type { Kysely } from 'kysely';

// The AstrBot adapter a contact wrote through when its platform is `other` (e.g. `satori`),
// so agents can tell such users' origins apart.
// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema as it was
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('contacts').addColumn('adapter', 'text').execute();
}

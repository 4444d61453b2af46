import { type ColumnDefinitionBuilder, type Kysely, SqliteAdapter } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations see the schema as it was at the time
export const isSqlite = (db: Kysely<any>) => db.getExecutor().adapter instanceof SqliteAdapter;

/** An auto-incrementing integer primary key in either database's own words. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export function serialPk(db: Kysely<any>) {
  return isSqlite(db)
    ? (c: ColumnDefinitionBuilder) => c.primaryKey().autoIncrement()
    : (c: ColumnDefinitionBuilder) => c.primaryKey().generatedByDefaultAsIdentity();
}

/** Column type for the serial key: SQLite needs exactly INTEGER for a rowid alias. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export const serialType = (db: Kysely<any>) => (isSqlite(db) ? 'integer' : 'bigint');

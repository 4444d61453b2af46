import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { migrationProvider, migrations } from './migrations/index.js';
import type { Database } from './schema.js';

export type { Database } from './schema.js';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
export type DbKind = 'sqlite' | 'postgres';

// int8 (COUNT(*), bigint ms timestamps) arrives as a string by default; every value we store
// fits a double, so parse it once here rather than at every read.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export type DatabaseTarget =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; url: string; schema?: string | undefined; poolSize?: number };

export interface DatabaseHandle {
  db: Db;
  kind: DbKind;
  /** Applies pending migrations; returns the names applied now. */
  migrate(): Promise<string[]>;
  /** True when every known migration has been applied. */
  migrationsApplied(): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens SQLite (better-sqlite3, WAL, one file) or PostgreSQL (`pg` pool) behind one Kysely
 * instance. For PostgreSQL a `schema` may be given: it is created if missing and set as the
 * search path of every pooled connection (tests use one schema per file).
 */
export function openDatabase(target: DatabaseTarget): DatabaseHandle {
  let db: Db;
  if (target.kind === 'sqlite') {
    if (target.file !== ':memory:')
      fs.mkdirSync(path.dirname(path.resolve(target.file)), { recursive: true });
    const sqlite = new SQLite(target.file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
    });
  } else {
    const schema = target.schema;
    if (schema && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
      throw new Error(`invalid schema name ${schema}`);
    const pool = new pg.Pool({
      connectionString: target.url,
      max: target.poolSize ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle client's error (e.g. the server restarting) must not crash the process; the
    // pool discards that client and the next query gets a fresh one.
    pool.on('error', () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }

  // Name the schema explicitly: Kysely otherwise finds its bookkeeping tables in *any* schema
  // (e.g. another tenant database's or test's) and skips creating them in ours.
  let migrator: Migrator | undefined;
  const getMigrator = async () => {
    if (migrator) return migrator;
    let schema = target.kind === 'postgres' ? target.schema : undefined;
    if (target.kind === 'postgres' && !schema) {
      const r = await sql<{ s: string }>`select current_schema() as s`.execute(db);
      schema = r.rows[0]?.s ?? 'public';
    }
    migrator = new Migrator({
      db,
      provider: migrationProvider,
      ...(schema ? { migrationTableSchema: schema } : {}),
    });
    return migrator;
  };
  let schemaReady: Promise<void> | undefined;
  const ensureSchema = () => {
    if (target.kind !== 'postgres' || !target.schema) return Promise.resolve();
    schemaReady ??= sql`create schema if not exists ${sql.id(target.schema)}`
      .execute(db)
      .then(() => {});
    return schemaReady;
  };

  return {
    db,
    kind: target.kind,
    async migrate() {
      await ensureSchema();
      const { error, results } = await (await getMigrator()).migrateToLatest();
      if (error) throw error instanceof Error ? error : new Error(String(error));
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    },
    async migrationsApplied() {
      const list = await (await getMigrator()).getMigrations();
      return (
        list.length === Object.keys(migrations).length &&
        list.every((m) => m.executedAt !== undefined)
      );
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      await db.destroy();
    },
  };
}

/**
 * Kysely's SQLite driver prepares every query anew; preparing costs more than running the
 * small indexed queries of a request. Queries are parameterised, so the same SQL text comes
 * back again and again: keep the most recent statements (bounded) and reuse them. Kysely runs
 * one query at a time on the connection, so a cached statement is never in use twice.
 */
function withStatementCache(sqlite: SQLite.Database, max = 500): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((source: string) => {
    let stmt = cache.get(source);
    if (stmt) {
      // Refresh its place as most recently used.
      cache.delete(source);
    } else {
      stmt = prepare(source);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
    }
    cache.set(source, stmt);
    return stmt;
  }) as typeof sqlite.prepare;
  return sqlite;
}

/** `true`/`false` as stored (0/1 on both databases). */
export const toBool = (v: number | boolean | null | undefined): boolean => v === 1 || v === true;

/** Milliseconds → ISO string (or null). */
export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms == null ? null : new Date(ms).toISOString();
}

/** True for a unique-constraint violation on either database. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/**
 * Case-insensitive "contains" on both databases: `lower(column) LIKE %needle%` with LIKE's
 * wildcards in the needle escaped, so `50%` means the text "50%".
 */
export function containsText(column: string, needle: string) {
  const pattern = `%${needle.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
  return sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}

import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDb = Database.Database;

export class DataDirInUseError extends Error {
  constructor(readonly file: string) {
    super(
      `${file} is locked by another process: another sidecar is using this SIDECAR_DATA_DIR (one sidecar per data directory)`,
    );
    this.name = 'DataDirInUseError';
  }
}

/**
 * Opens one of the sidecar's SQLite files: WAL, the given `synchronous` level, and an
 * exclusive lock held for the life of the connection, so a second sidecar on the same data
 * directory fails at start instead of sending every event twice. The OS drops the lock when
 * the process dies (even by kill -9), so a restart never finds a stale lock.
 *
 * Each schema is a list of migrations applied in order under `PRAGMA user_version`.
 */
export function openSqlite(
  file: string,
  opts: {
    synchronous: 'NORMAL' | 'FULL';
    migrations: readonly string[];
    /** How long to wait for another process to let go of the file (default 5000 ms). */
    lockTimeoutMs?: number;
  },
): SqliteDb {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    try {
      db.pragma(`busy_timeout = ${opts.lockTimeoutMs ?? 5000}`);
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous}`);
      // The first write takes the exclusive lock and keeps it.
      db.exec('BEGIN EXCLUSIVE; COMMIT;');
      db.pragma('busy_timeout = 5000');
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY'))
        throw new DataDirInUseError(file);
      throw err;
    }
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > opts.migrations.length)
      throw new Error(
        `${file} has schema version ${current}, newer than this sidecar knows (${opts.migrations.length}); upgrade the sidecar or use another SIDECAR_DATA_DIR`,
      );
    for (let v = current; v < opts.migrations.length; v++) {
      db.transaction(() => {
        db.exec(opts.migrations[v]!);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

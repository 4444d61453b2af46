import { type BlacklistChange, blacklistChecksum, type SyncEntry } from '@astrdesk/protocol';
import type { Logger } from 'pino';
import { openSqlite, type SqliteDb } from '../infra/sqlite.js';
import { EntryTable } from './table.js';

/** What the intercept needs of an entry. */
export interface CachedEntry {
  id: string;
  platform: string;
  platform_user_id: string;
  reason: string | null;
  /** Epoch milliseconds, or null for permanent. */
  expires_at: number | null;
}

export type DeltaResult =
  | { kind: 'applied'; revision: number; changes: number }
  /** Everything in it is already applied (`revision <= local`). */
  | { kind: 'stale'; revision: number }
  /** It does not continue from the local revision: the sidecar must resync. */
  | { kind: 'gap'; reason: string };

export type SnapshotResult =
  | { ok: true; revision: number; entries: number; checksum: string }
  | { ok: false; reason: string };

const MIGRATIONS = [
  `
  CREATE TABLE blacklist (
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    reason TEXT,
    expires_at INTEGER,
    PRIMARY KEY (platform, platform_user_id)
  ) WITHOUT ROWID;
  -- A snapshot being received. Only swapped into blacklist once complete and verified.
  CREATE TABLE blacklist_staging (
    platform TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    reason TEXT,
    expires_at INTEGER,
    PRIMARY KEY (platform, platform_user_id)
  ) WITHOUT ROWID;
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  `,
];

type Row = [
  platform: string,
  platform_user_id: string,
  id: string,
  reason: string | null,
  expires_at: number | null,
];

/** The in-memory index: (platform, user id) → entry, a flat hash table (see table.ts). */
type Index = EntryTable<CachedEntry>;

/** Rows read per query while the index fills (one synchronous read each). */
const FILL_PAGE_ROWS = 1024;
/**
 * How long one event-loop turn keeps filling before it lets intercepts run (pages are read
 * until this much time has passed, so a loaded machine gets fewer rows per turn, not longer
 * stalls).
 */
const FILL_TURN_MS = 4;
/** Most entries a snapshot's announced total may presize the staging index for. */
const STAGING_PRESIZE_MAX = 2_000_000;

/**
 * The tenant's blacklist as this sidecar holds it: a SQLite copy (`blacklist.db`) and, in
 * front of it, an in-memory index (platform → user id → entry) that the intercept probes.
 *
 * Every change is written to SQLite first, in one transaction together with the new revision;
 * only after the commit is the index changed (a snapshot builds a new index and swaps it in).
 * A crash at any point therefore leaves SQLite holding a consistent set for the revision it
 * records, and the next start loads exactly that.
 *
 * Opening does not wait for the index: with a million entries filling it takes seconds, so
 * until it is complete a lookup is a primary-key probe of SQLite (a few µs), which holds the
 * same committed set. The index fills in slices between other work; deltas applied meanwhile
 * go to SQLite and the (partial) index alike, and a slice read after a delta reads the
 * committed rows, so the complete index equals SQLite.
 */
export class Blacklist {
  readonly db: SqliteDb;
  #index: Index = new EntryTable();
  #revision = 0;
  /**
   * A snapshot being received: staged in SQLite and, alongside, in the index that replaces the
   * live one at the end (built as chunks arrive instead of reading a million rows back).
   */
  #staging: { revision: number; total: number; received: number; index: Index } | undefined;
  #loaded = false;
  /** The index holds every entry (lookups use it rather than SQLite). */
  #indexed = false;
  /** Bumped to stop a background fill (a snapshot swapped in a whole index, or close). */
  #fillGeneration = 0;
  #whenIndexed: Promise<void>;
  #resolveIndexed!: () => void;
  /** `count(*)` of the blacklist table while the index is incomplete; reset by each write. */
  #sqliteCount: number | undefined;
  /** Last revision the server announced (welcome, snapshot, delta), or null before any. */
  serverRevision: number | null = null;
  /** When the cache last applied a snapshot or delta (ms), persisted across restarts. */
  lastSyncAt: number | null = null;
  #identity: string | null = null;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #stmt: {
    upsert: import('better-sqlite3').Statement<Row>;
    delete: import('better-sqlite3').Statement<[string, string]>;
    stage: import('better-sqlite3').Statement<Row>;
    setMeta: import('better-sqlite3').Statement<[string, string]>;
    probe: import('better-sqlite3').Statement<[string, string]>;
  };

  private constructor(db: SqliteDb, opts: { now?: () => number; log?: Logger }) {
    this.db = db;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    const cols = '(platform, platform_user_id, id, reason, expires_at) VALUES (?, ?, ?, ?, ?)';
    this.#stmt = {
      upsert: db.prepare(`INSERT OR REPLACE INTO blacklist ${cols}`),
      delete: db.prepare('DELETE FROM blacklist WHERE platform = ? AND platform_user_id = ?'),
      stage: db.prepare(`INSERT OR REPLACE INTO blacklist_staging ${cols}`),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      probe: db
        .prepare(
          'SELECT platform, platform_user_id, id, reason, expires_at FROM blacklist WHERE platform = ? AND platform_user_id = ?',
        )
        .raw(),
    };
    this.#whenIndexed = new Promise((resolve) => {
      this.#resolveIndexed = resolve;
    });
  }

  /**
   * Opens (or creates) the SQLite file; lookups are answered from then on. The in-memory
   * index fills in the background (`background: false` fills it before returning). A snapshot
   * a previous process was receiving when it died is discarded: the last complete set stays.
   */
  static open(
    file: string,
    opts: { now?: () => number; log?: Logger; lockTimeoutMs?: number; background?: boolean } = {},
  ): Blacklist {
    const db = openSqlite(file, {
      synchronous: 'NORMAL',
      migrations: MIGRATIONS,
      ...(opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
    });
    const bl = new Blacklist(db, opts);
    try {
      bl.#load();
      bl.#startFill(opts.background !== false);
    } catch (err) {
      db.close();
      throw err;
    }
    return bl;
  }

  #load(): void {
    const leftover = this.db.prepare('DELETE FROM blacklist_staging').run().changes;
    if (leftover > 0)
      this.#log?.warn(
        { staged: leftover },
        'discarded an incomplete snapshot left by the previous run',
      );
    const meta = new Map(
      (
        this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]
      ).map((r) => [r.key, r.value]),
    );
    this.#revision = Number(meta.get('revision') ?? 0);
    const synced = meta.get('synced_at');
    this.lastSyncAt = synced ? Number(synced) : null;
    this.#identity = meta.get('identity') ?? null;
    this.#loaded = true;
  }

  /**
   * Fills the index from SQLite in primary-key order, {@link FILL_PAGE_ROWS} rows per read and
   * about {@link FILL_TURN_MS} per turn
   * (or all at once with `background` false). Each slice is one synchronous read, so no delta
   * lands inside it; one landing between slices is already in SQLite for the slices after
   * it and in the index for the keys before it.
   */
  #startFill(background: boolean): void {
    const generation = ++this.#fillGeneration;
    const first = this.db.prepare(
      'SELECT platform, platform_user_id, id, reason, expires_at FROM blacklist ORDER BY platform, platform_user_id LIMIT ?',
    );
    const next = this.db.prepare(
      'SELECT platform, platform_user_id, id, reason, expires_at FROM blacklist WHERE (platform, platform_user_id) > (?, ?) ORDER BY platform, platform_user_id LIMIT ?',
    );
    first.raw();
    next.raw();
    const started = performance.now();
    let after: [string, string] | undefined;
    const slice = (): boolean => {
      const rows = (
        after === undefined
          ? first.all(FILL_PAGE_ROWS)
          : next.all(after[0], after[1], FILL_PAGE_ROWS)
      ) as Row[];
      // Not sized up front: count(*) of a million rows would hold the event loop for ~100 ms
      // right when the first requests arrive; growing costs less, spread over the fill.
      const index = this.#index;
      let platform = '';
      for (const r of rows) {
        // One string per platform, shared by its entries.
        if (r[0] !== platform) platform = r[0];
        const e = { id: r[2], platform, platform_user_id: r[1], reason: r[3], expires_at: r[4] };
        index.set(e);
      }
      const last = rows.at(-1);
      if (last) after = [last[0], last[1]];
      return rows.length < FILL_PAGE_ROWS;
    };
    const finish = () => {
      this.#indexed = true;
      this.#sqliteCount = undefined;
      this.#resolveIndexed();
      this.#log?.info(
        { entries: this.#index.size, ms: Math.round(performance.now() - started) },
        'blacklist index loaded',
      );
    };
    if (!background) {
      while (!slice());
      finish();
      return;
    }
    const step = () => {
      if (generation !== this.#fillGeneration || !this.db.open) return;
      try {
        const until = performance.now() + FILL_TURN_MS;
        for (;;) {
          if (slice()) return finish();
          if (performance.now() >= until) break;
        }
        setImmediate(step);
      } catch (err) {
        // Lookups keep going to SQLite, which stays correct; only the speed-up is lost.
        if (this.db.open) this.#log?.error({ err }, 'filling the blacklist index failed');
      }
    };
    setImmediate(step);
  }

  /** Lookups answer from the committed set (true once open; the index may still be filling). */
  get loaded(): boolean {
    return this.#loaded;
  }
  /** The in-memory index is complete (until then lookups probe SQLite). */
  get indexed(): boolean {
    return this.#indexed;
  }
  /** Resolves once the in-memory index is complete. */
  whenIndexed(): Promise<void> {
    return this.#whenIndexed;
  }
  /** The revision the cached set is at (0: never synced). */
  get revision(): number {
    return this.#revision;
  }
  /** Entries held, expired ones included (they stop blocking at lookup time). */
  get size(): number {
    if (this.#indexed) return this.#index.size;
    this.#sqliteCount ??= this.db.prepare('SELECT count(*) FROM blacklist').pluck().get() as number;
    return this.#sqliteCount;
  }
  /** How far behind the server the cache is, when the server's revision is known. */
  get lag(): number | null {
    return this.serverRevision === null ? null : Math.max(0, this.serverRevision - this.#revision);
  }

  /**
   * Which credential the cached set was synced with (a hash of the instance token, set by the
   * control channel). A set synced under another token is not continued with deltas.
   */
  get identity(): string | null {
    return this.#identity;
  }

  setIdentity(identity: string): void {
    if (identity === this.#identity) return;
    this.#stmt.setMeta.run('identity', identity);
    this.#identity = identity;
  }

  /** The hot path: the entry blocking this user now, if any. Expiry is checked here. */
  lookup(platform: string, userId: string, now?: number): CachedEntry | undefined {
    // The clock is read only for an entry that can expire (a Date.now() costs as much as the
    // probe itself): misses and permanent entries do not need it.
    if (this.#indexed) return this.#index.get(platform, userId, now ?? this.#now);
    const e = this.#probe(platform, userId);
    if (e === undefined) return undefined;
    if (e.expires_at !== null && e.expires_at <= (now ?? this.#now())) return undefined;
    return e;
  }

  /** The lookup while the index fills: the same committed set, read from SQLite. */
  #probe(platform: string, userId: string): CachedEntry | undefined {
    const r = this.#stmt.probe.get(platform, userId) as Row | undefined;
    return r === undefined ? undefined : toEntry(r);
  }

  /** Every entry held (expired ones included), for tests and diagnostics. */
  entries(): IterableIterator<CachedEntry> {
    if (!this.#indexed)
      return (
        this.db
          .prepare('SELECT platform, platform_user_id, id, reason, expires_at FROM blacklist')
          .raw()
          .all() as Row[]
      )
        .map(toEntry)
        .values();
    return this.#index.values();
  }

  /** {@link blacklistChecksum} of the held set, comparable with the server's. */
  checksum(): string {
    return blacklistChecksum(this.entries());
  }

  // ---- snapshot ---------------------------------------------------------------------------

  get snapshotInProgress(): boolean {
    return this.#staging !== undefined;
  }

  /** Starts receiving a snapshot into the staging table (dropping any half-received one). */
  beginSnapshot(revision: number, total: number): void {
    this.db.prepare('DELETE FROM blacklist_staging').run();
    // Sized from the announced total, within reason (a bad total must not allocate gigabytes;
    // past the cap the table grows as chunks arrive).
    const expected = Math.min(Math.max(0, total), STAGING_PRESIZE_MAX);
    this.#staging = { revision, total, received: 0, index: new EntryTable(expected) };
  }

  /** Stages one chunk. The live set is untouched until {@link finishSnapshot}. */
  addSnapshotChunk(entries: readonly SyncEntry[]): void {
    const staging = this.#staging;
    if (!staging) throw new Error('snapshot_chunk before snapshot_begin');
    const stage = this.#stmt.stage;
    this.db.transaction(() => {
      for (const e of entries)
        stage.run(e.platform, e.platform_user_id, e.id, e.reason, e.expires_at);
    })();
    // Staged: mirror it (a repeated key replaces, as INSERT OR REPLACE did).
    const index = staging.index;
    for (const e of entries) putEntry(index, e);
    staging.received += entries.length;
  }

  /**
   * Verifies the staged set against the server's checksum and, if it matches, swaps it into
   * the live table and stores the revision in one transaction, then swaps the in-memory Map.
   * On a mismatch the staged set is dropped and the live set stays as it was.
   */
  finishSnapshot(revision: number, checksum: string): SnapshotResult {
    const staging = this.#staging;
    if (!staging) throw new Error('snapshot_end before snapshot_begin');
    this.#staging = undefined;
    if (revision !== staging.revision) {
      this.db.prepare('DELETE FROM blacklist_staging').run();
      return {
        ok: false,
        reason: `snapshot_end revision ${revision} differs from snapshot_begin revision ${staging.revision}`,
      };
    }
    const { index } = staging;
    const count = index.size;
    const staged = blacklistChecksum(index.values());
    if (staged !== checksum.toLowerCase()) {
      this.db.prepare('DELETE FROM blacklist_staging').run();
      return {
        ok: false,
        reason: `snapshot checksum mismatch at revision ${revision}: server ${checksum}, received ${staged} (${count} entries)`,
      };
    }
    if (count !== staging.total)
      this.#log?.warn(
        { total: staging.total, received: count, revision },
        'snapshot_begin announced a different number of entries than arrived (checksum matches)',
      );
    const now = this.#now();
    this.db.transaction(() => {
      this.db.exec(
        'DELETE FROM blacklist; INSERT INTO blacklist SELECT * FROM blacklist_staging; DELETE FROM blacklist_staging;',
      );
      this.#stmt.setMeta.run('revision', String(revision));
      this.#stmt.setMeta.run('synced_at', String(now));
    })();
    // The new index is complete: a background fill of the old set stops here.
    this.#fillGeneration++;
    this.#index = index;
    this.#sqliteCount = undefined;
    if (!this.#indexed) {
      this.#indexed = true;
      this.#resolveIndexed();
    }
    this.#revision = revision;
    this.lastSyncAt = now;
    if (this.serverRevision === null || this.serverRevision < revision)
      this.serverRevision = revision;
    return { ok: true, revision, entries: count, checksum: staged };
  }

  /** Drops a half-received snapshot (the connection closed mid-stream). */
  abortSnapshot(): void {
    if (!this.#staging) return;
    this.#staging = undefined;
    this.db.prepare('DELETE FROM blacklist_staging').run();
  }

  // ---- delta ------------------------------------------------------------------------------

  /**
   * Applies a delta that continues from the local revision, all its changes and the new
   * revision in one transaction; then updates the Map. A delta already covered is `stale`; one
   * that does not start at the local revision is a `gap`.
   */
  applyDelta(
    fromRevision: number,
    revision: number,
    changes: readonly BlacklistChange[],
  ): DeltaResult {
    if (this.serverRevision === null || this.serverRevision < revision)
      this.serverRevision = revision;
    if (revision < fromRevision)
      return {
        kind: 'gap',
        reason: `delta revision ${revision} is before its from_revision ${fromRevision}`,
      };
    if (revision <= this.#revision && fromRevision < this.#revision)
      return { kind: 'stale', revision };
    if (fromRevision !== this.#revision)
      return {
        kind: 'gap',
        reason: `revision gap: local revision ${this.#revision}, delta from ${fromRevision} to ${revision}`,
      };
    const now = this.#now();
    const { upsert, delete: del, setMeta } = this.#stmt;
    this.db.transaction(() => {
      for (const ch of changes) {
        if (ch.op === 'upsert') {
          const e = ch.entry;
          upsert.run(e.platform, e.platform_user_id, e.id, e.reason, e.expires_at);
        } else del.run(ch.platform, ch.platform_user_id);
      }
      setMeta.run('revision', String(revision));
      setMeta.run('synced_at', String(now));
    })();
    // Committed: mirror it in memory (the partial index too, while it fills). Nothing else
    // runs between these lines (one thread).
    this.#sqliteCount = undefined;
    const index = this.#index;
    for (const ch of changes) {
      if (ch.op === 'upsert') {
        putEntry(index, ch.entry);
      } else index.delete(ch.platform, ch.platform_user_id);
    }
    this.#revision = revision;
    this.lastSyncAt = now;
    return { kind: 'applied', revision, changes: changes.length };
  }

  close(): void {
    this.#fillGeneration++;
    if (this.db.open) this.db.close();
  }
}

/** Puts a copy of `e` in the index, replacing the same user's entry. */
function putEntry(
  index: Index,
  e: {
    id: string;
    platform: string;
    platform_user_id: string;
    reason: string | null;
    expires_at: number | null;
  },
): void {
  const entry: CachedEntry = {
    id: e.id,
    platform: e.platform,
    platform_user_id: e.platform_user_id,
    reason: e.reason,
    expires_at: e.expires_at,
  };
  index.set(entry);
}

function toEntry(r: Row): CachedEntry {
  return { id: r[2], platform: r[0], platform_user_id: r[1], reason: r[3], expires_at: r[4] };
}

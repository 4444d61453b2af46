import type { SidecarEvent } from '@astrdesk/protocol';
import type { Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import { fetchPost, type HttpPost, nodeHttpPost } from '../infra/http-client.js';
import { newEventId } from '../infra/ids.js';
import { openSqlite, type SqliteDb } from '../infra/sqlite.js';
import { WalFlusher } from '../infra/wal-flusher.js';
import { batchBody, classifyResponse, type SendOutcome, sendBatch } from './sender.js';

export type { SendOutcome } from './sender.js';

export type OutboxEventType = SidecarEvent['type'];

export interface OutboxOptions {
  /** Base URL of the server; events go to `<url>/v1/sidecar/events`. */
  serverUrl: string;
  token: string;
  version: string;
  log: Logger;
  /** `NORMAL` (default) survives kill -9; `FULL` also survives power loss, at an fsync per commit. */
  synchronous?: 'NORMAL' | 'FULL';
  batchSize?: number;
  /** How long the first waiting row waits for company before a POST (default 50 ms). */
  flushMs?: number;
  /**
   * Least time between the starts of two POSTs of a batch that is not full (default 250 ms):
   * under a steady stream the sender posts full batches or four times a second, not every
   * `flushMs`, so its per-POST work (on the thread that answers intercepts) stays rare.
   */
  minIntervalMs?: number;
  intervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  requestTimeoutMs?: number;
  now?: () => number;
  /** The HTTP client seam (default: node:http with one keep-alive connection). */
  post?: HttpPost;
  /** Use this `fetch` instead (wrapped in the same seam); `post` wins when both are given. */
  fetch?: typeof fetch;
  /** How long to wait for another process to release the file (default 5000 ms). */
  lockTimeoutMs?: number;
  /** Delivered rows kept before a bulk purge (default {@link PURGE_ROWS}). */
  purgeRows?: number;
  /**
   * With `synchronous=NORMAL`, flush the WAL to disk in the background this long after a
   * commit (default 10 ms; 0 turns it off). See {@link WalFlusher}.
   */
  walFlushMs?: number;
}

export interface OutboxRow {
  seq: number;
  id: string;
  type: OutboxEventType;
  session: string | null;
  /** The whole event `{id, type, occurred_at, data}` as JSON, exactly as it will be sent. */
  payload: string;
  created_at: number;
  attempts: number;
  last_error: string | null;
}

export interface DeadLetterRow extends OutboxRow {
  dead_seq: number;
  error: string;
  status: number | null;
  dead_at: number;
}

/*
 * The insert is on the message hot path, so each commit should touch one page: `seq` is the
 * rowid (no AUTOINCREMENT: that rewrites sqlite_sequence on every insert) and `id` has no
 * index (ids are unique by construction). A new row's rowid is above every row present, so
 * `seq` order is insertion order, and a batch read as "the first N rows" is exactly the rows
 * with seq BETWEEN its first and last, whatever is appended while it is in flight.
 *
 * Delivered rows are not deleted batch by batch: `outbox_state.delivered_seq` records the last
 * delivered `seq` (one small write per batch) and rows up to it are purged in bulk now and
 * then. Deleting each batch's rows as it was acknowledged held the event loop ~0.3 ms per
 * batch, often enough to show in the intercept's p99. The purge keeps the row at
 * `delivered_seq` itself, so the table is never emptied and rowids never restart below it.
 */
const MIGRATIONS = [
  `
  CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    session TEXT,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
  );
  -- Events the server rejected as invalid (400). Kept, never dropped; requeue after a fix.
  CREATE TABLE dead_letter (
    dead_seq INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    session TEXT,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    error TEXT NOT NULL,
    status INTEGER,
    dead_at INTEGER NOT NULL
  );
  CREATE INDEX dead_letter_id ON dead_letter (id);
  `,
  `
  CREATE TABLE outbox_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO outbox_state (key, value) VALUES ('delivered_seq', 0);
  `,
];

/** The payload goes in as its UTF-8 bytes (see {@link Outbox.append}). */
type InsertArgs = [
  id: string,
  type: string,
  session: string | null,
  payload: Buffer,
  createdAt: number,
];

/**
 * A waiting row as the sender needs it: the payload as read back from SQLite (a string) or,
 * from the in-memory mirror, the UTF-8 bytes it was written as.
 */
type SendRow = { seq: number; id: string; payload: string | Buffer };

/** Most waiting rows mirrored in memory for the sender (about 0.4 KB each). */
const RECENT_MAX = 20_000;
/**
 * Delivered rows are purged once this many have built up (or when nothing waits): a ~1 ms
 * DELETE a few times a second at 5,000 messages/s. (A 5,000-row DELETE held the event loop
 * ~5 ms: as much work in all, but one long stall shows in the intercept's p99 under an open
 * load, several short ones do not.)
 */
const PURGE_ROWS = 1000;

/**
 * The durable outbox (`outbox.db`): every event is a row written before the intercept (or
 * outbound hook) answers, with a stable id chosen at insert. A single sender drains rows in
 * `seq` order — which keeps each session's events in order — in batches to
 * `POST /v1/sidecar/events`, and deletes them only after the server's 2xx. Transient failures
 * (network, 5xx, 429, timeouts) are retried with exponential backoff and jitter; an event the
 * server rejects as invalid (400 naming its index) moves to `dead_letter` with the error.
 */
export class Outbox {
  readonly db: SqliteDb;
  readonly #o: Required<
    Omit<
      OutboxOptions,
      'log' | 'fetch' | 'post' | 'synchronous' | 'lockTimeoutMs' | 'serverUrl' | 'walFlushMs'
    >
  > & {
    post: HttpPost;
    eventsUrl: URL;
  };
  readonly #log: Logger;
  readonly #wal: WalFlusher | undefined;
  readonly #stmt: {
    insert: Statement<InsertArgs>;
    oldest: Statement<[number]>;
    batch: Statement<[number, number]>;
    count: Statement<[number]>;
    setDelivered: Statement<[number]>;
    purge: Statement<[number]>;
    bumpRange: Statement<[string, number, number]>;
  };
  /** Inserts rows in one transaction; returns their `seq`s (built once: it is per commit). */
  readonly #insertAll: (batch: readonly { args: InsertArgs }[]) => number[];
  #depth: number;
  /**
   * The waiting rows as the sender needs them, in `seq` order, kept while it is known to be
   * exactly the table's content (from an empty table on, only appends and sent batches): the
   * sender then reads its batch here instead of SELECTing ~500 payloads back on the event loop
   * that answers intercepts. Anything else (rows present at open, a dead letter, a requeue,
   * a backlog above {@link RECENT_MAX}) drops it; the sender SELECTs until the table is empty.
   */
  #recent: SendRow[] | undefined;
  #deadLetters: number;
  /** The last delivered `seq`: rows up to it are sent, whether or not purged yet. */
  #delivered: number;
  /** Delivered rows not purged yet. */
  #unpurged = 0;
  #pending: {
    args: InsertArgs;
    resolve: () => void;
    reject: (err: unknown) => void;
  }[] = [];
  #commitScheduled = false;
  #flushTimer: NodeJS.Timeout | undefined;
  /** When the pending flush timer fires (performance.now() ms). */
  #flushAt = 0;
  /** When the last POST started (performance.now() ms). */
  #lastPostAt = Number.NEGATIVE_INFINITY;
  #interval: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #again = false;
  #failures = 0;
  #notBefore = 0;
  #abort = new AbortController();
  #closed = false;
  #started = false;

  /** Counters since start, for health and metrics. */
  readonly stats = {
    appended: 0,
    /** Commits that appended rows (appended ÷ commits = rows per group commit). */
    commits: 0,
    sent: 0,
    /** Bulk deletes of delivered rows. */
    purges: 0,
    dead_lettered: 0,
    send_failures: 0,
    last_sent_at: null as number | null,
    last_error: null as string | null,
  };

  private constructor(db: SqliteDb, opts: OutboxOptions, wal: WalFlusher | undefined) {
    this.db = db;
    this.#log = opts.log;
    this.#wal = wal;
    this.#o = {
      token: opts.token,
      version: opts.version,
      batchSize: Math.min(500, Math.max(1, opts.batchSize ?? 500)),
      flushMs: opts.flushMs ?? 50,
      minIntervalMs: opts.minIntervalMs ?? 250,
      purgeRows: opts.purgeRows ?? PURGE_ROWS,
      intervalMs: opts.intervalMs ?? 1000,
      retryMinMs: opts.retryMinMs ?? 500,
      retryMaxMs: opts.retryMaxMs ?? 60_000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 15_000,
      now: opts.now ?? Date.now,
      post: opts.post ?? (opts.fetch ? fetchPost(opts.fetch) : nodeHttpPost()),
      eventsUrl: new URL(eventsUrl(opts.serverUrl)),
    };
    this.#stmt = {
      // The payload is bound as bytes and stored as TEXT: encoded once, here, and the same
      // bytes then go into the POST body.
      insert: db.prepare(
        'INSERT INTO outbox (id, type, session, payload, created_at) VALUES (?, ?, ?, CAST(? AS TEXT), ?)',
      ),
      oldest: db
        .prepare('SELECT created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1')
        .pluck(),
      batch: db.prepare('SELECT seq, id, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
      count: db.prepare('SELECT count(*) FROM outbox WHERE seq > ?').pluck(),
      setDelivered: db.prepare("UPDATE outbox_state SET value = ? WHERE key = 'delivered_seq'"),
      purge: db.prepare('DELETE FROM outbox WHERE seq < ?'),
      bumpRange: db.prepare(
        'UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq BETWEEN ? AND ?',
      ),
    };
    const insert = this.#stmt.insert;
    this.#insertAll = db.transaction((batch: readonly { args: InsertArgs }[]) =>
      batch.map((p) => Number(insert.run(...p.args).lastInsertRowid)),
    );
    this.#delivered = db
      .prepare("SELECT value FROM outbox_state WHERE key = 'delivered_seq'")
      .pluck()
      .get() as number;
    this.#stmt.purge.run(this.#delivered);
    this.#depth = this.#stmt.count.get(this.#delivered) as number;
    this.#recent = this.#depth === 0 ? [] : undefined;
    this.#deadLetters = db.prepare('SELECT count(*) FROM dead_letter').pluck().get() as number;
  }

  static open(file: string, opts: OutboxOptions): Outbox {
    const db = openSqlite(file, {
      synchronous: opts.synchronous ?? 'NORMAL',
      migrations: MIGRATIONS,
      ...(opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
    });
    try {
      // Rows live for about one send interval, so a checkpoint mostly copies the same few
      // pages however long the WAL is: checkpointing every 4,000 pages (≤16 MB of WAL)
      // instead of SQLite's 1,000 makes a fraction of the checkpoint stalls an intercept's
      // commit runs into, for the same rows. The WAL is flushed in the background as it is
      // written (WalFlusher), so the checkpoint's own fsync covers only the pages it copies.
      db.pragma('wal_autocheckpoint = 4000');
      const walFlushMs = opts.walFlushMs ?? 10;
      // SQLite names the WAL after the database file as it resolved it (symlinks followed).
      const main = (db.pragma('database_list') as { name: string; file: string }[]).find(
        (d) => d.name === 'main',
      );
      const wal =
        (opts.synchronous ?? 'NORMAL') === 'NORMAL' && walFlushMs > 0
          ? new WalFlusher(`${main?.file || file}-wal`, { intervalMs: walFlushMs, log: opts.log })
          : undefined;
      return new Outbox(db, opts, wal);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Rows waiting to be sent. */
  get depth(): number {
    return this.#depth;
  }
  /** Background WAL flushes (null when off: `synchronous=FULL`, or `walFlushMs: 0`). */
  get walFlushes(): Readonly<WalFlusher['stats']> | null {
    return this.#wal?.stats ?? null;
  }
  /** Rows the server rejected, kept in `dead_letter`. */
  get deadLetters(): number {
    return this.#deadLetters;
  }
  /** Age of the oldest waiting row in seconds (0 when empty). */
  oldestAgeSeconds(now = this.#o.now()): number {
    if (this.#depth === 0) return 0;
    const t = this.#stmt.oldest.get(this.#delivered) as number | undefined;
    return t === undefined ? 0 : Math.max(0, (now - t) / 1000);
  }

  /**
   * Writes one event and returns its id once the row is committed. `data` must already match
   * the event type's schema (the callers build it from validated input).
   *
   * Group commit: rows appended during one event-loop turn (every request whose body arrived
   * in the same poll phase) are inserted in one transaction in the check phase right after it,
   * and only then do their promises resolve. A caller that answers after awaiting this
   * therefore never answers for a row that is not committed, and N concurrent messages cost
   * one commit (one WAL append; with `synchronous=FULL`, one fsync) instead of N.
   */
  append(
    type: OutboxEventType,
    session: string | null,
    data: object,
    occurredAt = this.#o.now(),
  ): Promise<string> {
    if (this.#closed) return Promise.reject(new Error('outbox is closed'));
    const id = newEventId(occurredAt);
    const payload = `{"id":"${id}","type":"${type}","occurred_at":"${new Date(occurredAt).toISOString()}","data":${JSON.stringify(data)}}`;
    const args: InsertArgs = [id, type, session, Buffer.from(payload, 'utf8'), occurredAt];
    return new Promise<string>((resolve, reject) => {
      this.#pending.push({ args, resolve: () => resolve(id), reject });
      if (!this.#commitScheduled) {
        this.#commitScheduled = true;
        setImmediate(this.#commitPending);
      }
    });
  }

  /** Commits the rows appended since the last commit, then settles their promises. */
  readonly #commitPending = (): void => {
    this.#commitScheduled = false;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let seqs: number[];
    try {
      // One row (a lone message) commits by itself: an autocommitted INSERT is the same one
      // transaction without the BEGIN and COMMIT statements.
      seqs =
        batch.length === 1
          ? [Number(this.#stmt.insert.run(...batch[0]!.args).lastInsertRowid)]
          : this.#insertAll(batch);
    } catch (err) {
      // Nothing of the batch was committed (one transaction): every caller gets the error.
      for (const p of batch) p.reject(err);
      return;
    }
    this.stats.commits++;
    this.#wal?.touch();
    const recent = this.#recent;
    if (recent !== undefined) {
      if (recent.length + batch.length > RECENT_MAX) this.#recent = undefined;
      else
        for (let i = 0; i < batch.length; i++) {
          const args = batch[i]!.args;
          recent.push({ seq: seqs[i]!, id: args[0], payload: args[3] });
        }
    }
    this.#appended(batch.length);
    for (const p of batch) p.resolve();
  };

  #appended(n: number): void {
    this.#depth += n;
    this.stats.appended += n;
    this.kick();
  }

  /** Starts sending: the periodic drain, and a drain soon after each append. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#interval = setInterval(() => this.kick(), this.#o.intervalMs);
    this.#interval.unref();
    this.kick();
  }

  /**
   * Asks for a drain soon (debounced by `flushMs`). `urgent` also forgets the backoff after
   * failures, e.g. when the control channel has just reconnected.
   */
  kick(opts: { urgent?: boolean } = {}): void {
    if (this.#closed || !this.#started) return;
    if (opts.urgent) this.#notBefore = 0;
    if (this.#depth === 0) return;
    const now = performance.now();
    // A full batch goes at once; a partial one after flushMs, and not sooner than
    // minIntervalMs after the previous POST.
    let at =
      this.#depth >= this.#o.batchSize
        ? now
        : Math.max(now + this.#o.flushMs, this.#lastPostAt + this.#o.minIntervalMs);
    // While backing off after failures, nothing is sent before the backoff ends anyway.
    const backoff = this.#notBefore - this.#o.now();
    if (backoff > 0) at = Math.max(at, now + backoff);
    if (this.#flushTimer) {
      if (this.#flushAt <= at) return;
      clearTimeout(this.#flushTimer);
    }
    this.#flushAt = at;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.#drain(false);
    }, at - now);
    this.#flushTimer.unref();
  }

  /**
   * Sends every waiting row now (one drain at a time; a call during a drain makes it run once
   * more). Resolves when the outbox is empty or a send failed (the next attempt is scheduled).
   */
  drain(): Promise<void> {
    return this.#drain(true);
  }

  /**
   * `untilEmpty` false (the debounced drain under traffic): stop after a batch that was not
   * full and let the next `flushMs` tick send what arrived meanwhile. Sending back-to-back
   * would POST a few rows at a time, and each POST (fetch, SELECT, DELETE) runs on the event
   * loop that answers the intercepts; waiting lets batches fill.
   */
  #drain(untilEmpty: boolean): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#draining) {
      if (untilEmpty) this.#again = true;
      return this.#draining;
    }
    if (this.#o.now() < this.#notBefore) return Promise.resolve();
    this.#draining = (async () => {
      try {
        // A drain() during this pass asks for one more, until empty (its caller awaits it).
        let mode = untilEmpty;
        do {
          this.#again = false;
          await this.#drainAll(mode);
          mode = true;
        } while (this.#again && !this.#closed && this.#o.now() >= this.#notBefore);
      } finally {
        this.#draining = undefined;
        // Rows left by a throttled drain go with the next debounced one.
        this.kick();
      }
    })();
    return this.#draining;
  }

  async #drainAll(untilEmpty: boolean): Promise<void> {
    while (!this.#closed && this.#depth > 0) {
      const rows =
        this.#recent?.slice(0, this.#o.batchSize) ??
        (this.#stmt.batch.all(this.#delivered, this.#o.batchSize) as SendRow[]);
      if (rows.length === 0) {
        this.#depth = 0;
        this.#recent = [];
        return;
      }
      // Under traffic a partial batch waits for its turn (see kick); a drain() sends it now.
      if (
        !untilEmpty &&
        rows.length < this.#o.batchSize &&
        performance.now() < this.#lastPostAt + this.#o.minIntervalMs
      )
        return;
      const ok = await this.#sendRows(rows);
      if (!ok) return;
      if (!untilEmpty && rows.length < this.#o.batchSize) return;
    }
  }

  /** Sends one batch and settles its rows. False when the drain should stop (retry later). */
  async #sendRows(rows: SendRow[]): Promise<boolean> {
    this.#lastPostAt = performance.now();
    let outcome: SendOutcome;
    try {
      outcome = await sendBatch(batchBody(rows), {
        url: this.#o.eventsUrl,
        token: this.#o.token,
        version: this.#o.version,
        post: this.#o.post,
        timeoutMs: this.#o.requestTimeoutMs,
        retryMinMs: this.#o.retryMinMs,
        retryMaxMs: Math.min(this.#o.retryMaxMs, Math.max(this.#o.retryMinMs, 5000)),
        signal: this.#abort.signal,
        onRetry: (err) => {
          this.stats.send_failures++;
          this.stats.last_error = err;
          this.#bumpAttempts(rows, err);
        },
      });
    } catch (err) {
      if (this.#closed) return false;
      throw err;
    }
    if (this.#closed) return false;
    switch (outcome.kind) {
      case 'sent': {
        const first = rows[0]!.seq;
        const last = rows[rows.length - 1]!.seq;
        this.#stmt.setDelivered.run(last);
        this.#wal?.touch();
        this.#delivered = last;
        this.#depth = Math.max(0, this.#depth - rows.length);
        this.#unpurged += rows.length;
        if (this.#unpurged >= this.#o.purgeRows || this.#depth === 0) this.#purge();
        const recent = this.#recent;
        if (recent !== undefined) {
          // The batch was the head of `recent` (only appends happened meanwhile); anything
          // else means the two no longer match, and the sender goes back to SELECTs.
          if (recent[0]?.seq === first && recent[rows.length - 1]?.seq === last)
            recent.splice(0, rows.length);
          else this.#recent = undefined;
        }
        if (this.#depth === 0) this.#recent = [];
        this.stats.sent += rows.length;
        this.stats.last_sent_at = this.#o.now();
        this.#failures = 0;
        this.#notBefore = 0;
        if (outcome.accepted !== undefined && outcome.accepted !== rows.length)
          this.#log.debug(
            { sent: rows.length, accepted: outcome.accepted },
            'server accepted fewer events than sent (replays of events it already had)',
          );
        this.#log.debug({ events: rows.length, depth: this.#depth }, 'outbox batch delivered');
        return true;
      }
      case 'rejected': {
        // The server named the bad event: dead-letter it, send the rest again.
        const index = outcome.index;
        if (index !== undefined && index >= 0 && index < rows.length) {
          this.#deadLetter(rows[index]!, outcome.error, outcome.status);
          return true;
        }
        if (rows.length === 1) {
          this.#deadLetter(rows[0]!, outcome.error, outcome.status);
          return true;
        }
        // No index: find the bad one(s) by sending one at a time.
        this.#log.warn(
          { status: outcome.status, error: outcome.error, events: rows.length },
          'batch rejected without naming an event; sending one at a time',
        );
        for (const row of rows) if (!(await this.#sendRows([row]))) return false;
        return true;
      }
      case 'retry_later': {
        this.#failures++;
        this.stats.send_failures++;
        this.stats.last_error = outcome.error;
        this.#bumpAttempts(rows, outcome.error);
        const exp = Math.min(
          this.#o.retryMaxMs,
          this.#o.retryMinMs * 2 ** Math.min(this.#failures, 20),
        );
        const wait = Math.round(exp / 2 + (Math.random() * exp) / 2);
        this.#notBefore = this.#o.now() + wait;
        this.#log[outcome.loud ? 'error' : 'warn'](
          { error: outcome.error, status: outcome.status, depth: this.#depth, retry_in_ms: wait },
          'could not deliver outbox events; keeping them and retrying',
        );
        const t = setTimeout(() => this.kick(), wait + 1);
        t.unref();
        return false;
      }
    }
  }

  /** Deletes delivered rows, all but the last (it keeps rowids above the watermark). */
  #purge(): void {
    this.#stmt.purge.run(this.#delivered);
    this.#unpurged = 0;
    this.stats.purges++;
  }

  #bumpAttempts(rows: Pick<OutboxRow, 'seq'>[], error: string): void {
    if (this.#closed || rows.length === 0) return;
    this.#stmt.bumpRange.run(error.slice(0, 1000), rows[0]!.seq, rows[rows.length - 1]!.seq);
    this.#wal?.touch();
  }

  #deadLetter(row: Pick<OutboxRow, 'seq' | 'id'>, error: string, status: number): void {
    this.#recent = undefined;
    const moved = this.db.transaction(() => {
      const n = this.db
        .prepare(
          `INSERT INTO dead_letter (seq, id, type, session, payload, created_at, attempts, last_error, error, status, dead_at)
           SELECT seq, id, type, session, payload, created_at, attempts + 1, last_error, ?, ?, ? FROM outbox WHERE seq = ?`,
        )
        .run(error.slice(0, 4000), status, this.#o.now(), row.seq).changes;
      this.db.prepare('DELETE FROM outbox WHERE seq = ?').run(row.seq);
      return n;
    })();
    this.#wal?.touch();
    this.#depth = Math.max(0, this.#depth - moved);
    this.#deadLetters += moved;
    this.stats.dead_lettered += moved;
    this.#log.error(
      { event_id: row.id, status, error },
      'the server rejected an outbox event as invalid; moved it to dead_letter',
    );
  }

  /** Waiting rows in send order (for diagnostics and tests). */
  rows(limit = 1000): OutboxRow[] {
    return this.db
      .prepare('SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(this.#delivered, limit) as OutboxRow[];
  }

  /** Dead-lettered rows, oldest first. */
  listDeadLetters(limit = 100): DeadLetterRow[] {
    return this.db
      .prepare('SELECT * FROM dead_letter ORDER BY dead_seq LIMIT ?')
      .all(limit) as DeadLetterRow[];
  }

  /**
   * Puts dead-lettered rows (all, or the given event ids) back into the outbox with their
   * original ids, after the cause was fixed. Returns how many moved.
   */
  requeueDeadLetters(ids?: readonly string[]): number {
    this.#recent = undefined;
    const moved = this.db.transaction(() => {
      const rows = (
        ids
          ? ids.map((id) => this.db.prepare('SELECT * FROM dead_letter WHERE id = ?').get(id))
          : this.db.prepare('SELECT * FROM dead_letter ORDER BY dead_seq').all()
      ).filter(Boolean) as DeadLetterRow[];
      for (const r of rows) {
        this.db
          .prepare(
            'INSERT INTO outbox (id, type, session, payload, created_at, attempts) VALUES (?, ?, ?, ?, ?, 0)',
          )
          .run(r.id, r.type, r.session, r.payload, r.created_at);
        this.db.prepare('DELETE FROM dead_letter WHERE dead_seq = ?').run(r.dead_seq);
      }
      return rows.length;
    })();
    this.#wal?.touch();
    this.#deadLetters = this.db.prepare('SELECT count(*) FROM dead_letter').pluck().get() as number;
    this.#depth = this.#stmt.count.get(this.#delivered) as number;
    if (moved > 0) this.kick({ urgent: true });
    return moved;
  }

  /** Stops sending (an in-flight request is abandoned; its rows stay and are resent later). */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Commit rows appended in this tick before closing: their callers are waiting to answer.
    if (this.#pending.length > 0) this.#commitPending();
    this.#closed = true;
    clearInterval(this.#interval);
    clearTimeout(this.#flushTimer);
    this.#abort.abort(new Error('outbox closing'));
    await this.#draining?.catch(() => {});
    this.#o.post.close?.();
    await this.#wal?.close();
    if (this.db.open) {
      if (this.#unpurged > 0) this.#purge();
      this.db.close();
    }
  }
}

export function eventsUrl(serverUrl: string): string {
  return new URL(
    'v1/sidecar/events',
    serverUrl.endsWith('/') ? serverUrl : `${serverUrl}/`,
  ).toString();
}

export { classifyResponse };

import fs from 'node:fs';
import type { Logger } from 'pino';

/** `fs.fdatasync`'s shape. */
export type SyncFn = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

/**
 * Flushes a WAL-mode SQLite file's `-wal` to disk in the background, on libuv's thread pool,
 * a few milliseconds after each commit.
 *
 * Why: with `synchronous=NORMAL` a commit only writes the WAL into the page cache, and the
 * fsync comes at the next checkpoint, which runs inside whichever commit crosses
 * `wal_autocheckpoint`, on the event loop. That fsync then has to push the whole WAL written
 * since the last checkpoint (16 MB: ~50 ms on this project's CI disk), and every intercept
 * arriving meanwhile waits. Flushed here as it is written, the checkpoint finds the WAL
 * clean and only syncs the pages it copies into the database. A side effect is that a commit
 * reaches the disk about `intervalMs` plus one fdatasync after it is made (one flush runs at
 * a time), instead of at the next checkpoint.
 *
 * Flushing a file SQLite is writing is safe: fdatasync only writes back what is already in
 * the page cache and changes no content.
 */
export class WalFlusher {
  readonly #file: string;
  readonly #intervalMs: number;
  readonly #log: Logger | undefined;
  readonly #sync: SyncFn;
  #fd: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #dirty = false;
  #closed = false;
  #warned = false;
  readonly stats = { syncs: 0, errors: 0, last_ms: 0, max_ms: 0 };

  /**
   * @param walFile the `-wal` file.
   * @param opts.intervalMs how long after a commit its flush starts (commits in between share it).
   * @param opts.sync the flush itself (default `fs.fdatasync`; tests observe it).
   */
  constructor(
    walFile: string,
    opts: { intervalMs: number; log?: Logger | undefined; sync?: SyncFn },
  ) {
    this.#file = walFile;
    this.#intervalMs = opts.intervalMs;
    this.#log = opts.log;
    this.#sync = opts.sync ?? fs.fdatasync;
  }

  /** Call after a commit: the WAL has new bytes to flush. Cheap; at most one timer is armed. */
  touch(): void {
    if (this.#closed) return;
    this.#dirty = true;
    if (this.#timer === undefined && this.#inFlight === undefined) this.#arm();
  }

  #arm(): void {
    this.#timer = setTimeout(this.#flush, this.#intervalMs);
    this.#timer.unref();
  }

  readonly #flush = (): void => {
    this.#timer = undefined;
    if (this.#closed || !this.#dirty) return;
    this.#dirty = false;
    if (this.#fd === undefined) {
      try {
        // r+: some platforms (Windows) only flush a handle opened for writing; nothing is written.
        this.#fd = fs.openSync(this.#file, 'r+');
      } catch (err) {
        this.#failed(err);
        return;
      }
    }
    const fd = this.#fd;
    const t0 = performance.now();
    this.#inFlight = new Promise<void>((resolve) => {
      this.#sync(fd, (err) => {
        this.#inFlight = undefined;
        if (err) this.#failed(err);
        else {
          const ms = performance.now() - t0;
          this.stats.syncs++;
          this.stats.last_ms = ms;
          if (ms > this.stats.max_ms) this.stats.max_ms = ms;
        }
        // Commits made while this flush ran are flushed by the next one.
        if (this.#dirty && !this.#closed) this.#arm();
        resolve();
      });
    });
  };

  #failed(err: unknown): void {
    this.stats.errors++;
    if (this.#warned) return;
    this.#warned = true;
    this.#log?.warn(
      { err: (err as Error).message, file: this.#file },
      'could not flush the WAL in the background; checkpoints will sync it instead',
    );
  }

  /** Stops flushing; waits for a flush in flight, then closes the file. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    if (this.#fd !== undefined) {
      const fd = this.#fd;
      this.#fd = undefined;
      // The database's own close must still run after this, whatever happens here.
      try {
        fs.closeSync(fd);
      } catch (err) {
        this.#failed(err);
      }
    }
  }
}

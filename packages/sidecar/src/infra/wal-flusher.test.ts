import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir, testLogger, waitFor } from '../test-utils/index.js';
import { type SyncFn, WalFlusher } from './wal-flusher.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A WAL database with one table; `commit()` writes a row and tells the flusher. */
function walDb() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = path.join(dir, 'x.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (v TEXT)');
  cleanups.push(() => db.close());
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  return { file, write: (v = 'x') => insert.run(v) };
}

/**
 * A flusher on fake timers whose syncs are held until `finish()` is called: every step is
 * driven by the test, nothing depends on how fast the machine is.
 */
function controlled() {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const { file, write } = walDb();
  const calls: { fd: number; done: (err: NodeJS.ErrnoException | null) => void }[] = [];
  const sync: SyncFn = (fd, done) => {
    calls.push({ fd, done });
  };
  const flusher = new WalFlusher(`${file}-wal`, { intervalMs: 10, log: testLogger(), sync });
  cleanups.push(() => flusher.close());
  return {
    file,
    flusher,
    calls,
    commit: (v?: string) => {
      write(v);
      flusher.touch();
    },
    /** Completes the oldest sync still held. */
    finish: (err: NodeJS.ErrnoException | null = null) => {
      const c = calls.find((x) => !(x as { settled?: boolean }).settled);
      if (!c) throw new Error('no sync in flight');
      (c as { settled?: boolean }).settled = true;
      c.done(err);
    },
  };
}

describe('WalFlusher', () => {
  it('fdatasyncs the -wal file itself after a commit (real fdatasync)', async () => {
    const { file, write } = walDb();
    const seen: { ino: number; size: number }[] = [];
    const flusher = new WalFlusher(`${file}-wal`, {
      intervalMs: 1,
      sync: (fd, done) => {
        const st = fs.fstatSync(fd);
        seen.push({ ino: st.ino, size: st.size });
        fs.fdatasync(fd, done);
      },
    });
    cleanups.push(() => flusher.close());
    write();
    flusher.touch();
    await waitFor(() => flusher.stats.syncs === 1, { what: 'one flush' });
    expect(seen).toEqual([{ ino: fs.statSync(`${file}-wal`).ino, size: expect.any(Number) }]);
    expect(seen[0]!.size).toBeGreaterThan(0);
    expect(flusher.stats.errors).toBe(0);
  });

  it('flushes intervalMs after a commit, never without one, and commits in between share it', () => {
    const { flusher, calls, commit, finish } = controlled();
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(0);

    commit('a');
    vi.advanceTimersByTime(9);
    expect(calls).toHaveLength(0);
    commit('b');
    vi.advanceTimersByTime(1);
    expect(calls).toHaveLength(1);
    finish();
    expect(flusher.stats.syncs).toBe(1);
    // Nothing new since that flush started: no more flushes, however long we wait.
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(1);
  });

  it('one flush at a time: commits made during a flush get exactly one more after it', () => {
    const { flusher, calls, commit, finish } = controlled();
    commit('a');
    vi.advanceTimersByTime(10);
    expect(calls).toHaveLength(1);
    commit('b');
    commit('c');
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(1);
    finish();
    vi.advanceTimersByTime(10);
    expect(calls).toHaveLength(2);
    finish();
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(2);
    expect(flusher.stats.syncs).toBe(2);
  });

  it('close() waits for the flush in flight, closes the file, and stops', async () => {
    const { flusher, calls, commit, finish } = controlled();
    commit();
    vi.advanceTimersByTime(10);
    expect(calls).toHaveLength(1);
    const fd = calls[0]!.fd;
    let closed = false;
    const closing = flusher.close().then(() => {
      closed = true;
    });
    await Promise.resolve();
    expect(closed).toBe(false);
    expect(() => fs.fstatSync(fd)).not.toThrow();
    finish();
    await closing;
    expect(() => fs.fstatSync(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    commit();
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(1);
  });

  it('a failed flush or a missing file is counted and logged once, never thrown', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const warnings: string[] = [];
    const log = testLogger();
    log.warn = ((_obj: unknown, msg?: string) => {
      warnings.push(String(msg));
    }) as typeof log.warn;
    const flusher = new WalFlusher(path.join(dir, 'absent.db-wal'), { intervalMs: 1, log });
    cleanups.push(() => flusher.close());
    flusher.touch();
    vi.advanceTimersByTime(1);
    expect(flusher.stats).toMatchObject({ syncs: 0, errors: 1 });
    flusher.touch();
    vi.advanceTimersByTime(1);
    expect(flusher.stats).toMatchObject({ syncs: 0, errors: 2 });
    expect(warnings.filter((w) => w.includes('could not flush the WAL'))).toHaveLength(1);
  });

  it('an fdatasync error is counted, and the next commit is flushed again', () => {
    const { flusher, calls, commit, finish } = controlled();
    commit();
    vi.advanceTimersByTime(10);
    finish(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    expect(flusher.stats).toMatchObject({ syncs: 0, errors: 1 });
    commit();
    vi.advanceTimersByTime(10);
    expect(calls).toHaveLength(2);
    finish();
    expect(flusher.stats).toMatchObject({ syncs: 1, errors: 1 });
  });
});

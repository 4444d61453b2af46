import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, testLogger, waitFor } from '../test-utils/index.js';
import { WalFlusher } from './wal-flusher.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A WAL database with one table, and a flusher whose fdatasync calls are recorded. */
function setup() {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = path.join(dir, 'x.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (v TEXT)');
  cleanups.push(() => db.close());
  const synced: { ino: number; walSize: number }[] = [];
  let hold: (() => void) | undefined;
  let holding = false;
  const flusher = new WalFlusher(`${file}-wal`, {
    intervalMs: 1,
    log: testLogger(),
    sync: (fd, cb) => {
      synced.push({ ino: fs.fstatSync(fd).ino, walSize: fs.fstatSync(fd).size });
      if (holding) hold = () => fs.fdatasync(fd, cb);
      else fs.fdatasync(fd, cb);
    },
  });
  cleanups.push(() => flusher.close());
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  return {
    file,
    flusher,
    synced,
    commit: (v = 'x') => {
      insert.run(v);
      flusher.touch();
    },
    holdSyncs: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      const h = hold;
      hold = undefined;
      h?.();
    },
  };
}

describe('WalFlusher', () => {
  it('fdatasyncs the -wal file after a commit', async () => {
    const { file, flusher, synced, commit } = setup();
    commit();
    await waitFor(() => flusher.stats.syncs === 1);
    expect(synced).toHaveLength(1);
    expect(synced[0]!.ino).toBe(fs.statSync(`${file}-wal`).ino);
    expect(synced[0]!.walSize).toBeGreaterThan(0);
    expect(flusher.stats.errors).toBe(0);
  });

  it('does nothing without commits, and commits made during a flush get one more', async () => {
    const { flusher, synced, commit, holdSyncs, release } = setup();
    await new Promise((r) => setTimeout(r, 20));
    expect(synced).toHaveLength(0);

    holdSyncs();
    commit('a');
    await waitFor(() => synced.length === 1);
    // While that flush is in flight: more commits, no second concurrent flush.
    commit('b');
    commit('c');
    await new Promise((r) => setTimeout(r, 20));
    expect(synced).toHaveLength(1);
    release();
    await waitFor(() => synced.length === 2);
    release();
    await waitFor(() => flusher.stats.syncs === 2);
    // Nothing new since: no third flush.
    await new Promise((r) => setTimeout(r, 20));
    expect(synced).toHaveLength(2);
  });

  it('close() waits for the flush in flight, then stops', async () => {
    const { flusher, synced, commit, holdSyncs, release } = setup();
    holdSyncs();
    commit();
    await waitFor(() => synced.length === 1);
    let closed = false;
    const closing = flusher.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(false);
    release();
    await closing;
    expect(flusher.stats.syncs).toBe(1);
    commit();
    await new Promise((r) => setTimeout(r, 20));
    expect(synced).toHaveLength(1);
  });

  it('a missing file is counted and logged once, not thrown', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const lines: string[] = [];
    const log = testLogger();
    const warn = log.warn.bind(log);
    log.warn = ((obj: unknown, msg?: string) => {
      lines.push(String(msg));
      return warn(obj as object, msg);
    }) as typeof log.warn;
    const flusher = new WalFlusher(path.join(dir, 'absent.db-wal'), { intervalMs: 1, log });
    cleanups.push(() => flusher.close());
    flusher.touch();
    await waitFor(() => flusher.stats.errors === 1);
    flusher.touch();
    await waitFor(() => flusher.stats.errors === 2);
    expect(flusher.stats.syncs).toBe(0);
    expect(lines.filter((l) => l.includes('could not flush the WAL'))).toHaveLength(1);
  });
});

import path from 'node:path';
import { blacklistChecksum } from '@astrdesk/protocol';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError } from '../infra/sqlite.js';
import { entry, tempDir } from '../test-utils/index.js';
import { Blacklist } from './index.js';

const dirs: (() => void)[] = [];
const open: Blacklist[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.close();
  for (const c of dirs.splice(0)) c();
});

function fresh(now?: () => number): { bl: Blacklist; file: string } {
  const { dir, cleanup } = tempDir();
  dirs.push(cleanup);
  const file = path.join(dir, 'blacklist.db');
  const bl = Blacklist.open(file, now ? { now } : {});
  open.push(bl);
  return { bl, file };
}

function reopen(file: string, now?: () => number): Blacklist {
  const bl = Blacklist.open(file, now ? { now } : {});
  open.push(bl);
  return bl;
}

function snapshot(bl: Blacklist, revision: number, entries: ReturnType<typeof entry>[], size = 2) {
  bl.beginSnapshot(revision, entries.length);
  for (let i = 0; i < entries.length; i += size) bl.addSnapshotChunk(entries.slice(i, i + size));
  return bl.finishSnapshot(revision, blacklistChecksum(entries));
}

describe('Blacklist', () => {
  it('starts empty at revision 0, loaded', () => {
    const { bl } = fresh();
    expect(bl.loaded).toBe(true);
    expect(bl.revision).toBe(0);
    expect(bl.size).toBe(0);
    expect(bl.lookup('qq', 'u1')).toBeUndefined();
    expect(bl.lag).toBeNull();
  });

  it('applies a chunked snapshot only at snapshot_end, in SQLite and memory', () => {
    const { bl, file } = fresh();
    const set = [entry(1), entry(2), entry(3), entry(4), entry(5)];
    bl.beginSnapshot(7, 5);
    bl.addSnapshotChunk(set.slice(0, 2));
    bl.addSnapshotChunk(set.slice(2, 4));
    // Staged, not live.
    expect(bl.lookup('qq', 'u1')).toBeUndefined();
    expect(bl.revision).toBe(0);
    bl.addSnapshotChunk(set.slice(4));
    const r = bl.finishSnapshot(7, blacklistChecksum(set));
    expect(r).toMatchObject({ ok: true, revision: 7, entries: 5 });
    expect(bl.revision).toBe(7);
    expect(bl.lookup('qq', 'u3')).toMatchObject({ id: 'bl_0003', reason: 'reason 3' });
    expect(bl.checksum()).toBe(blacklistChecksum(set));
    bl.close();
    const again = reopen(file);
    expect(again.revision).toBe(7);
    expect(again.size).toBe(5);
    expect(again.checksum()).toBe(blacklistChecksum(set));
    expect(again.lastSyncAt).not.toBeNull();
  });

  it('a snapshot with a wrong checksum leaves the previous set and revision', () => {
    const { bl } = fresh();
    snapshot(bl, 3, [entry(1), entry(2)]);
    bl.beginSnapshot(9, 2);
    bl.addSnapshotChunk([entry(8), entry(9)]);
    const r = bl.finishSnapshot(9, '0000000000000bad');
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(/checksum mismatch/);
    expect(bl.revision).toBe(3);
    expect(bl.lookup('qq', 'u1')).toBeDefined();
    expect(bl.lookup('qq', 'u8')).toBeUndefined();
    expect(bl.db.prepare('SELECT count(*) FROM blacklist_staging').pluck().get()).toBe(0);
  });

  it('rejects a snapshot_end for another revision than snapshot_begin', () => {
    const { bl } = fresh();
    bl.beginSnapshot(4, 1);
    bl.addSnapshotChunk([entry(1)]);
    const r = bl.finishSnapshot(5, blacklistChecksum([entry(1)]));
    expect(r).toMatchObject({ ok: false });
    expect(bl.revision).toBe(0);
  });

  it('applies a delta that continues from the local revision, in one transaction', () => {
    const { bl, file } = fresh();
    snapshot(bl, 2, [entry(1), entry(2)]);
    const r = bl.applyDelta(2, 4, [
      { op: 'upsert', revision: 3, entry: entry(3) },
      { op: 'delete', revision: 4, id: 'bl_0001', platform: 'qq', platform_user_id: 'u1' },
    ]);
    expect(r).toEqual({ kind: 'applied', revision: 4, changes: 2 });
    expect(bl.lookup('qq', 'u1')).toBeUndefined();
    expect(bl.lookup('qq', 'u3')).toBeDefined();
    expect(bl.revision).toBe(4);
    bl.close();
    const again = reopen(file);
    expect(again.revision).toBe(4);
    expect(again.checksum()).toBe(blacklistChecksum([entry(2), entry(3)]));
  });

  it('an upsert replaces the entry of the same platform and user', () => {
    const { bl } = fresh();
    bl.applyDelta(0, 1, [{ op: 'upsert', revision: 1, entry: entry(1) }]);
    bl.applyDelta(1, 2, [
      { op: 'upsert', revision: 2, entry: entry(1, { id: 'bl_new', reason: 'changed' }) },
    ]);
    expect(bl.size).toBe(1);
    expect(bl.lookup('qq', 'u1')).toMatchObject({ id: 'bl_new', reason: 'changed' });
  });

  it('reports a gap when a delta does not start at the local revision, and stale ones', () => {
    const { bl } = fresh();
    bl.applyDelta(0, 2, [{ op: 'upsert', revision: 2, entry: entry(1) }]);
    const gap = bl.applyDelta(3, 4, [{ op: 'upsert', revision: 4, entry: entry(2) }]);
    expect(gap.kind).toBe('gap');
    expect(gap.kind === 'gap' && gap.reason).toMatch(/local revision 2, delta from 3 to 4/);
    expect(bl.revision).toBe(2);
    expect(bl.lookup('qq', 'u2')).toBeUndefined();
    expect(bl.applyDelta(1, 2, [])).toEqual({ kind: 'stale', revision: 2 });
    expect(bl.applyDelta(5, 4, []).kind).toBe('gap');
    // The server's revision is remembered for lag even from a gap.
    expect(bl.serverRevision).toBe(4);
    expect(bl.lag).toBe(2);
  });

  it('checks expiry at lookup time: an expired entry stops blocking with no push', () => {
    let now = 1_000_000;
    const { bl } = fresh(() => now);
    bl.applyDelta(0, 1, [
      { op: 'upsert', revision: 1, entry: entry(1, { expires_at: 1_000_500 }) },
    ]);
    expect(bl.lookup('qq', 'u1')).toBeDefined();
    now = 1_000_499;
    expect(bl.lookup('qq', 'u1')).toBeDefined();
    now = 1_000_500;
    expect(bl.lookup('qq', 'u1')).toBeUndefined();
    // Still held (the server deletes it in its own time).
    expect(bl.size).toBe(1);
    expect(bl.lookup('qq', 'u1', 1_000_000)).toBeDefined();
  });

  it('keys on platform and user: the same id on another platform does not match', () => {
    const { bl } = fresh();
    bl.applyDelta(0, 1, [{ op: 'upsert', revision: 1, entry: entry(1) }]);
    expect(bl.lookup('wecom', 'u1')).toBeUndefined();
    expect(bl.lookup('qq', 'u1')).toBeDefined();
    expect(bl.lookup('qq\0u', '1')).toBeUndefined();
  });

  it('discards a half-received snapshot left by a crash, keeping the last complete set', () => {
    const { bl, file } = fresh();
    snapshot(bl, 5, [entry(1), entry(2)]);
    bl.beginSnapshot(9, 4);
    bl.addSnapshotChunk([entry(7), entry(8)]);
    // Simulate the process dying here: close without finishing.
    bl.db.close();
    const again = reopen(file);
    expect(again.revision).toBe(5);
    expect(again.checksum()).toBe(blacklistChecksum([entry(1), entry(2)]));
    expect(again.db.prepare('SELECT count(*) FROM blacklist_staging').pluck().get()).toBe(0);
  });

  it('answers lookups from SQLite while the index fills, the same as after, deltas included', async () => {
    const now = 5_000_000;
    const { bl, file } = fresh(() => now);
    // More than several fill slices, two platforms, some expired, some expiring later.
    const set = Array.from({ length: 30_000 }, (_, i) =>
      entry(i + 1, {
        ...(i % 7 === 0 ? { platform: 'wecom' } : {}),
        ...(i % 5 === 0 ? { expires_at: i % 10 === 0 ? now - 1 : now + 1000 } : {}),
      }),
    );
    expect(snapshot(bl, 10, set, 2000)).toMatchObject({ ok: true, entries: 30_000 });
    const expected = bl.checksum();
    bl.close();

    const again = reopen(file, () => now);
    // Open returns before the index has a single row; lookups are already correct.
    expect(again.loaded).toBe(true);
    expect(again.indexed).toBe(false);
    expect(again.size).toBe(30_000);
    const probes = [1, 2, 7, 11, 15_000, 29_999, 30_000, 30_001, 40_000];
    const answers = (b: Blacklist) =>
      probes.flatMap((n) => ['qq', 'wecom'].map((p) => b.lookup(p, `u${n}`)?.id ?? null));
    const before = answers(again);
    expect(before.filter((a) => a !== null).length).toBeGreaterThan(0);
    // Let one slice in, then change keys on both sides of where the fill has got to.
    await new Promise((r) => setImmediate(r));
    expect(again.indexed).toBe(false);
    const last = set.at(-1)!;
    const r = again.applyDelta(10, 13, [
      { op: 'upsert', revision: 11, entry: entry(40_000, { reason: 'new' }) },
      {
        op: 'delete',
        revision: 12,
        id: last.id,
        platform: last.platform,
        platform_user_id: last.platform_user_id,
      },
      { op: 'delete', revision: 13, id: set[1]!.id, platform: 'qq', platform_user_id: 'u2' },
    ]);
    expect(r.kind).toBe('applied');
    expect(again.size).toBe(29_999);
    const during = answers(again);
    expect(again.lookup('qq', 'u40000')).toMatchObject({ reason: 'new' });
    expect(again.lookup(last.platform, last.platform_user_id)).toBeUndefined();
    expect(again.lookup('qq', 'u2')).toBeUndefined();
    // An expired entry does not block during the fill either.
    expect(again.lookup(set[0]!.platform, set[0]!.platform_user_id)).toBeUndefined();
    expect(again.lookup(set[5]!.platform, set[5]!.platform_user_id)).toBeDefined();

    await again.whenIndexed();
    expect(again.indexed).toBe(true);
    expect(answers(again)).toEqual(during);
    expect(again.size).toBe(29_999);
    const filled = again.checksum();
    expect(filled).not.toBe(expected);
    // The filled index equals a synchronous load of the same file.
    again.close();
    const sync = Blacklist.open(file, { now: () => now, background: false });
    open.push(sync);
    expect(sync.indexed).toBe(true);
    expect(answers(sync)).toEqual(during);
    expect(sync.checksum()).toBe(filled);
    expect(sync.size).toBe(29_999);
    // The probes that changed are exactly the three the delta touched.
    const changed = before.flatMap((a, i) => (a === during[i] ? [] : [[a, during[i]]]));
    expect(changed).toEqual([
      ['bl_0002', null],
      ['bl_30000', null],
      [null, 'bl_40000'],
    ]);
  });

  it('a snapshot finished while the index fills replaces it and stops the fill', async () => {
    const { bl, file } = fresh();
    snapshot(
      bl,
      3,
      Array.from({ length: 20_000 }, (_, i) => entry(i + 1)),
      5000,
    );
    bl.close();
    const again = reopen(file);
    expect(again.indexed).toBe(false);
    expect(snapshot(again, 9, [entry(1), entry(50_000)])).toMatchObject({ ok: true });
    expect(again.indexed).toBe(true);
    await again.whenIndexed();
    await new Promise((r) => setTimeout(r, 20));
    expect(again.size).toBe(2);
    expect(again.lookup('qq', 'u2')).toBeUndefined();
    expect(again.lookup('qq', 'u50000')).toBeDefined();
    expect(again.checksum()).toBe(blacklistChecksum([entry(1), entry(50_000)]));
  });

  it('refuses a second open of the same file while the first holds it', () => {
    const { file } = fresh();
    expect(() => Blacklist.open(file, { lockTimeoutMs: 50 })).toThrow(DataDirInUseError);
  });

  it('the SQLite file is readable after close (plain tables)', () => {
    const { bl, file } = fresh();
    snapshot(bl, 1, [entry(1)]);
    bl.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT id FROM blacklist').pluck().all()).toEqual(['bl_0001']);
    db.close();
  });
});

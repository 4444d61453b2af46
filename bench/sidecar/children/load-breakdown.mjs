// Where the cold start of (d) goes, in a fresh process: argv[2] = a blacklist.db.
// Times importing the sidecar dist, `Blacklist.open` (what startSidecar does first), and
// variants of the load loop that isolate its parts or sketch cheaper ways to get the same set
// into memory. Read-only on a copy of the file; prints one JSON line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { nowNs } from '../lib.mjs';

const src = process.argv[2];
const ms = (t0) => Math.round((nowNs() - t0) / 1e5) / 10;
const out = {};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-sidecar-bench-breakdown-'));
const file = path.join(tmp, 'blacklist.db');
fs.copyFileSync(src, file);
try {
  // Module loading, one dependency at a time in the order of need (each figure is incremental:
  // what that import added on top of the ones before it).
  out.import_ms = {};
  for (const spec of [
    'better-sqlite3',
    'ws',
    'pino',
    'zod',
    'hono',
    '@hono/node-server',
    'p-retry',
    '@astrdesk/protocol',
  ]) {
    const t0 = nowNs();
    await import(spec);
    out.import_ms[spec] = ms(t0);
  }
  let t = nowNs();
  const { Blacklist } = await import(
    new URL('../../../packages/sidecar/dist/index.js', import.meta.url).href
  );
  out.import_ms['packages/sidecar/dist (rest)'] = ms(t);
  out.import_total_ms =
    Math.round(Object.values(out.import_ms).reduce((a, b) => a + b, 0) * 10) / 10;
  const { default: Database } = await import('better-sqlite3');

  // 1. What startSidecar does: open (pragmas, exclusive lock, migrations, meta); lookups are
  // served from then on (SQLite probes) while the in-memory index fills in the background.
  t = nowNs();
  const bl = Blacklist.open(file);
  out.blacklist_open_ms = ms(t);
  t = nowNs();
  out.entries = bl.size;
  out.count_while_loading_ms = ms(t);
  if (bl.whenIndexed) {
    t = nowNs();
    await bl.whenIndexed();
    out.background_index_fill_ms = ms(t);
  }
  bl.close();
  // The same fill in one go (`background: false`), without yielding between slices.
  t = nowNs();
  const sync = Blacklist.open(file, { background: false });
  out.blacklist_open_sync_fill_ms = ms(t);
  sync.close();

  const SELECT = 'SELECT platform, platform_user_id, id, reason, expires_at FROM blacklist';
  const db = new Database(file, { readonly: true });
  const time = (name, fn, reps = 2) => {
    const xs = [];
    for (let r = 0; r < reps; r++) {
      const t0 = nowNs();
      fn();
      xs.push(ms(t0));
    }
    out[name] = Math.min(...xs);
  };
  // 2. SQLite row iteration alone (.raw().iterate(), as #load does), nothing kept.
  let cells = 0;
  time('sqlite_iterate_only_ms', () => {
    for (const r of db.prepare(SELECT).raw().iterate()) cells += r.length;
  });
  out.cells_read = cells;
  // 3. .raw().all() in one call instead of the iterator.
  time('sqlite_all_raw_ms', () => {
    db.prepare(SELECT).raw().all();
  });
  // 4. Iterate + Map with the same key and entry object as #load (the current loop, no lock/pragmas).
  time('iterate_plus_map_objects_ms', () => {
    const m = new Map();
    for (const r of db.prepare(SELECT).raw().iterate())
      m.set(`${r[0]}\0${r[1]}`, {
        id: r[2],
        platform: r[0],
        platform_user_id: r[1],
        reason: r[3],
        expires_at: r[4],
      });
  });
  // 5. all() then Map (one native call for every row, then a JS loop).
  time('all_then_map_objects_ms', () => {
    const m = new Map();
    for (const r of db.prepare(SELECT).raw().all())
      m.set(`${r[0]}\0${r[1]}`, {
        id: r[2],
        platform: r[0],
        platform_user_id: r[1],
        reason: r[3],
        expires_at: r[4],
      });
  });
  // 6. The key built by SQLite, the row array kept as the value (no object per entry).
  time('sqlite_key_row_value_ms', () => {
    const m = new Map();
    for (const r of db
      .prepare(
        'SELECT platform || char(0) || platform_user_id, id, reason, expires_at, platform, platform_user_id FROM blacklist',
      )
      .raw()
      .all())
      m.set(r[0], r);
  });
  // 7. A Set of keys only (what a pure membership test would need; details fetched on a hit).
  time('set_of_keys_only_ms', () => {
    const s = new Set();
    for (const r of db
      .prepare('SELECT platform || char(0) || platform_user_id FROM blacklist')
      .pluck()
      .all())
      s.add(r);
  });
  // 8. A V8-serialized copy of the Map (a cache file written after each sync) read back.
  {
    const m = new Map();
    for (const r of db.prepare(SELECT).raw().iterate())
      m.set(`${r[0]}\0${r[1]}`, {
        id: r[2],
        platform: r[0],
        platform_user_id: r[1],
        reason: r[3],
        expires_at: r[4],
      });
    const t0 = nowNs();
    const buf = v8.serialize(m);
    out.v8_serialize_ms = ms(t0);
    out.v8_snapshot_bytes = buf.length;
    fs.writeFileSync(path.join(tmp, 'map.bin'), buf);
    time('v8_deserialize_from_file_ms', () => {
      v8.deserialize(fs.readFileSync(path.join(tmp, 'map.bin')));
    });
  }
  // 9. Just opening the database and one indexed point query (a lookup served from SQLite).
  {
    const t0 = nowNs();
    const d2 = new Database(file, { readonly: true });
    const q = d2.prepare(
      'SELECT id, reason, expires_at FROM blacklist WHERE platform = ? AND platform_user_id = ?',
    );
    q.get('qq', '1000000005');
    out.open_plus_first_point_query_ms = ms(t0);
    const t1 = nowNs();
    for (let i = 0; i < 10_000; i++) q.get('qq', String(1_000_000_000 + ((i * 7919) % 700_000)));
    out.sqlite_point_query_us = Math.round((nowNs() - t1) / 10_000 / 10) / 100;
    d2.close();
  }
  db.close();
  out.heap_used_mib = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(out)}\n`);

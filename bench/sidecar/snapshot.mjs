// (e) Full snapshot of 1M entries. A server (child) whose database holds 1M entries for one
// tenant (bulk-inserted: blacklist_entries rows + the blacklist_revisions row), then
//  1. a minimal ws client in this process says hello since=0 and receives snapshot_begin …
//     snapshot_end: bytes (sum of frame payloads; and TCP bytes read, which adds the 101
//     answer and WebSocket frame headers), chunk count, seconds — it only classifies frames by
//     their first bytes while they stream and parses/verifies them afterwards;
//  2. a real sidecar (startSidecar in a child, empty data dir, connect) until its channel emits
//     'synced' with the whole set in cache.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import {
  cpuMeter,
  forkChild,
  HERE,
  importProtocol,
  load,
  log,
  nextMessage,
  nowNs,
  round,
  stopChild,
  tmpDir,
} from './lib.mjs';

function lightSnapshot(url, token) {
  return new Promise((resolve, reject) => {
    const frames = [];
    const t = {};
    let bytes = 0;
    let chunks = 0;
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/sidecar/connect`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      maxPayload: 256 * 1024 * 1024,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('snapshot not received within 10 min'));
    }, 600_000);
    ws.on('open', () => {
      t.hello = nowNs();
      ws.send(
        JSON.stringify({ v: 1, type: 'hello', since: 0, version: 'bench-light/1', entries: 0 }),
      );
    });
    ws.on('message', (data) => {
      const now = nowNs();
      bytes += data.length;
      frames.push(data);
      const head = data.toString('latin1', 0, 40);
      if (head.includes('"snapshot_chunk"')) {
        chunks++;
        t.first_chunk ??= now;
      } else if (head.includes('"snapshot_begin"')) t.begin = now;
      else if (head.includes('"welcome"')) t.welcome = now;
      else if (head.includes('"snapshot_end"')) {
        t.end = now;
        clearTimeout(timer);
        const tcp = ws._socket?.bytesRead ?? null;
        ws.close();
        resolve({ t, frames, bytes, chunks, tcp_bytes_read: tcp });
      }
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export async function runSnapshot({
  quick = false,
  entries = quick ? 100_000 : 1_000_000,
  profile = !quick,
} = {}) {
  const out = { started: load(), config: { entries, server_chunk_entries: 2000 } };
  let server;
  let sidecar;
  const dir = tmpDir('snap-sidecar');
  try {
    log(`(e) snapshot: server with ${entries} entries (bulk insert)`);
    server = await forkChild(path.join(HERE, 'children', 'server.mjs'), {
      env: { BENCH_INSTANCES: '3', BENCH_SEED_BULK: String(entries) },
      timeoutMs: 900_000,
    });
    const { url, tokens, revision } = server.msg;
    out.server_seed_s = server.msg.seed_s;
    out.server_db_bytes = server.msg.db_bytes;
    out.revision = revision;

    // 1. minimal client
    let meter = cpuMeter({ server: server.child.pid });
    const r = await lightSnapshot(url, tokens[0]);
    const cpu1 = meter();
    const { blacklistChecksum } = await importProtocol();
    let n = 0;
    let begin;
    let end;
    const all = [];
    for (const f of r.frames) {
      const j = JSON.parse(f.toString());
      if (j.type === 'snapshot_begin') begin = j;
      if (j.type === 'snapshot_end') end = j;
      if (j.type === 'snapshot_chunk') {
        n += j.entries.length;
        for (const e of j.entries) all.push(e);
      }
    }
    const checksumOk = blacklistChecksum(all) === end.checksum;
    const chunkSizes = r.frames
      .filter((f) => f.toString('latin1', 0, 40).includes('"snapshot_chunk"'))
      .map((f) => f.length);
    out.minimal_client = {
      total_payload_bytes: r.bytes,
      tcp_bytes_read: r.tcp_bytes_read,
      payload_mib: round(r.bytes / 2 ** 20, 1),
      bytes_per_entry: round(r.bytes / n, 1),
      frames: r.frames.length,
      chunks: r.chunks,
      chunk_bytes: { min: Math.min(...chunkSizes), max: Math.max(...chunkSizes) },
      entries_received: n,
      announced_total: begin.total,
      checksum_ok: checksumOk,
      seconds_hello_to_end: round((r.t.end - r.t.hello) / 1e9, 2),
      seconds_hello_to_begin: round((r.t.begin - r.t.hello) / 1e9, 3),
      seconds_begin_to_end: round((r.t.end - r.t.begin) / 1e9, 2),
      mib_per_s: round(r.bytes / 2 ** 20 / ((r.t.end - r.t.hello) / 1e9), 1),
      cpu: cpu1,
    };
    log(
      `(e) minimal client: ${out.minimal_client.payload_mib} MiB in ${r.chunks} chunks, ${out.minimal_client.seconds_hello_to_end} s, checksum ${checksumOk ? 'ok' : 'MISMATCH'}`,
    );
    r.frames.length = 0;
    all.length = 0;

    // 2. real sidecar
    meter = cpuMeter({ server: server.child.pid });
    sidecar = fork(path.join(HERE, 'children', 'snapshot-sidecar.mjs'), [], {
      env: { ...process.env, BENCH_URL: url, BENCH_TOKEN: tokens[1], BENCH_DIR: dir },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const tFork = nowNs();
    const errors = [];
    sidecar.on('message', (m) => {
      if (m?.type === 'error') errors.push(m.message);
    });
    const m = await nextMessage(
      sidecar,
      (x) => x?.type === 'ready' || x?.type === 'fatal',
      900_000,
      'real sidecar synced',
    );
    if (m.type === 'fatal') throw new Error(m.message);
    const cpu2 = meter();
    const s = (a, b) => round((b - a) / 1e9, 2);
    out.real_sidecar = {
      entries_applied: m.entries,
      cache_size: m.cache_size,
      revision: m.revision,
      lookup_probe_hit: m.lookup_probe_hit,
      chunks_staged: m.chunks,
      seconds_startSidecar_to_synced: s(m.t.start, m.t.synced),
      seconds_process_fork_to_synced: s(tFork, m.t.synced),
      seconds_startSidecar_returned: s(m.t.start, m.t.started),
      seconds_to_welcome: s(m.t.start, m.t.welcome),
      seconds_welcome_to_first_chunk: s(m.t.welcome, m.t.first_chunk),
      seconds_first_chunk_to_last_chunk_staged: s(m.t.first_chunk, m.t.last_chunk_staged),
      seconds_in_addSnapshotChunk_sqlite_staging: round(m.staging_ms / 1000, 2),
      seconds_last_chunk_to_finish_start: s(m.t.last_chunk_staged, m.t.finish_start),
      seconds_finishSnapshot_verify_and_swap: s(m.t.finish_start, m.t.finish_end),
      rss_mib_after: m.rss_mib,
      heap_used_mib_after: m.heap_used_mib,
      errors,
      cpu: cpu2,
    };
    out.real_sidecar.ok = m.cache_size === entries && m.entries === entries;
    log(
      `(e) real sidecar: ${m.cache_size} entries in cache, synced ${out.real_sidecar.seconds_startSidecar_to_synced} s after startSidecar ` +
        `(staging ${out.real_sidecar.seconds_in_addSnapshotChunk_sqlite_staging} s, finish ${out.real_sidecar.seconds_finishSnapshot_verify_and_swap} s)`,
    );
    await stopChild(sidecar, 60_000);
    sidecar = undefined;

    // 3. not measured: the same under --cpu-prof (a third instance, fresh data dir), to see
    //    where the real sidecar's time goes while it takes the snapshot in.
    if (profile) {
      const profDir = tmpDir('snap-prof');
      const dir2 = tmpDir('snap-sidecar2');
      try {
        const p = fork(path.join(HERE, 'children', 'snapshot-sidecar.mjs'), [], {
          env: { ...process.env, BENCH_URL: url, BENCH_TOKEN: tokens[2], BENCH_DIR: dir2 },
          execArgv: ['--cpu-prof', `--cpu-prof-dir=${profDir}`],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        const pm = await nextMessage(
          p,
          (x) => x?.type === 'ready' || x?.type === 'fatal',
          900_000,
          'profiled sidecar',
        );
        await stopChild(p, 60_000);
        const f = fs.readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
        if (f && pm.type === 'ready') {
          const { summarize } = await import('../lib/cpuprofile-summary.mjs');
          const sum = summarize(JSON.parse(fs.readFileSync(path.join(profDir, f), 'utf8')), {
            top: 20,
            pkg: '@astrdesk/sidecar',
          });
          out.real_sidecar_profile = {
            note: 'whole sidecar process (start, snapshot, close) under --cpu-prof; not the measured run',
            seconds_startSidecar_to_synced_under_profiler: s(pm.t.start, pm.t.synced),
            busy_ms: sum.busy_ms,
            self_by_package: sum.self_by_package.slice(0, 10),
            self_by_function: sum.self_by_function.slice(0, 20),
            self_by_line: sum.self_by_line.slice(0, 20),
            inclusive_sidecar_functions: sum.inclusive_server_functions.slice(0, 20),
          };
        }
      } finally {
        fs.rmSync(profDir, { recursive: true, force: true });
        fs.rmSync(dir2, { recursive: true, force: true });
      }
    }
  } finally {
    await stopChild(sidecar, 30_000);
    await stopChild(server?.child, 30_000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.finished = load();
  return out;
}

// Outbox commit stalls: the real Outbox (packages/sidecar/dist) appending at a steady rate, as
// the intercept does, with its rows delivered (a stand-in POST that answers 200 at once) and
// purged as in production, for `seconds`. Measured per append: time from append() to its
// commit resolving; and the event loop's stalls (gaps in a 1 ms timer). Compared in the same
// run, in rotating order:
//   default     — background WAL flush after 10 ms, delivered rows purged every 1,000;
//   no_flush    — WAL flush off (walFlushMs 0, the behaviour before it: every ~4,000 pages a
//                 checkpoint syncs the whole WAL inside a commit);
//   purge_5000  — the flush on, delivered rows purged every 5,000 (the previous default).
//
// What it shows is the tail: p99 to max append latency and the longest loop stalls. The bulk
// of appends (p50) is the same in all three.
import fs from 'node:fs';
import path from 'node:path';
import { importSidecar, log, median, round, sleep, summary, tmpDir } from './lib.mjs';

const EVENT = {
  platform: 'qq',
  platform_instance_id: 'aiocqhttp-1',
  platform_user_id: '10001',
  nickname: '小王',
  platform_message_id: 'm-1',
  session_id: 'aiocqhttp:FriendMessage:10001',
  kind: 'text',
  text: '我想申请退款',
  sent_at: '2026-01-01T10:00:00.000Z',
};

const SILENT = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
SILENT.child = () => SILENT;

/** A POST that accepts every batch at once (the server's answer shape), off the wire. */
function acceptingPost() {
  const post = async (_url, init) => {
    let n = 0;
    const b = init.body;
    // Count events by their `{"id":"` openings, like the intercept bench's ingest stand-in.
    for (let i = 0; i + 6 < b.length; i++)
      if (b[i] === 0x7b && b[i + 1] === 0x22 && b[i + 2] === 0x69 && b[i + 3] === 0x64) n++;
    return { status: 200, text: `{"object":"ingest_result","accepted":${n},"results":[]}` };
  };
  post.close = () => {};
  return post;
}

async function once(Outbox, { walFlushMs, purgeRows, rate, seconds }) {
  const dir = tmpDir('outbox-stall');
  const outbox = Outbox.open(path.join(dir, 'outbox.db'), {
    serverUrl: 'http://127.0.0.1:9',
    token: 'adi_bench_0000000000000000000000',
    version: 'bench',
    log: SILENT,
    post: acceptingPost(),
    walFlushMs,
    purgeRows,
  });
  outbox.start();
  const latency = [];
  const gaps = [];
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
  }, 1);
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  const pending = [];
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      while (sent < due) {
        sent++;
        const t0 = performance.now();
        pending.push(
          outbox
            .append('message.inbound', EVENT.session_id, EVENT)
            .then(() => latency.push(performance.now() - t0)),
        );
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - now));
      else resolve();
    };
    tick();
  });
  await Promise.all(pending);
  clearInterval(ticker);
  await outbox.drain();
  const flushes = outbox.walFlushes;
  const walBytes = fs.statSync(path.join(dir, 'outbox.db-wal')).size;
  await outbox.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const stalls = gaps.map((g) => g - 1);
  return {
    wal_flush_ms: walFlushMs,
    purge_rows: purgeRows,
    appends: latency.length,
    append_latency_ms: summary(latency, 3),
    loop_stall_ms: summary(stalls, 2),
    stalls_over_5ms: stalls.filter((g) => g > 5).length,
    stalls_over_20ms: stalls.filter((g) => g > 20).length,
    sent: outbox.stats.sent,
    purges: outbox.stats.purges,
    wal_bytes_at_end: walBytes,
    wal_flushes: flushes ? { syncs: flushes.syncs, max_ms: round(flushes.max_ms, 2) } : null,
  };
}

export async function runOutboxStall({
  quick = false,
  rate = 2000,
  seconds = quick ? 4 : 20,
  rounds = quick ? 1 : 3,
} = {}) {
  const { Outbox } = await importSidecar();
  const out = { config: { rate, seconds, rounds, event_bytes: JSON.stringify(EVENT).length } };
  const modes = {
    default: { walFlushMs: 10, purgeRows: 1000 },
    no_flush: { walFlushMs: 0, purgeRows: 1000 },
    purge_5000: { walFlushMs: 10, purgeRows: 5000 },
  };
  const names = Object.keys(modes);
  const byMode = Object.fromEntries(names.map((n) => [n, []]));
  for (let k = 0; k < rounds; k++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(j + k) % names.length];
      const r = await once(Outbox, { ...modes[name], rate, seconds });
      byMode[name].push(r);
      log(
        `outbox stall: ${name} round ${k + 1}: append p50 ${r.append_latency_ms.p50} p99 ${r.append_latency_ms.p99} p99.9 ${r.append_latency_ms.p999} max ${r.append_latency_ms.max} ms; loop stalls >5 ms ${r.stalls_over_5ms}, >20 ms ${r.stalls_over_20ms}`,
      );
      await sleep(200);
    }
  }
  const med = (rs) => ({
    append_p50_ms: median(rs.map((r) => r.append_latency_ms.p50)),
    append_p99_ms: median(rs.map((r) => r.append_latency_ms.p99)),
    append_p999_ms: median(rs.map((r) => r.append_latency_ms.p999)),
    append_max_ms: median(rs.map((r) => r.append_latency_ms.max)),
    loop_stall_max_ms: median(rs.map((r) => r.loop_stall_ms.max)),
    stalls_over_5ms: median(rs.map((r) => r.stalls_over_5ms)),
    stalls_over_20ms: median(rs.map((r) => r.stalls_over_20ms)),
  });
  out.modes = Object.fromEntries(
    names.map((n) => [n, { ...modes[n], median: med(byMode[n]), rounds: byMode[n] }]),
  );
  return out;
}

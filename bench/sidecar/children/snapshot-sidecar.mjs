// A real sidecar receiving a full snapshot, for (e). Env: BENCH_URL, BENCH_TOKEN, BENCH_DIR.
// `startSidecar` (connect: true) from packages/sidecar/dist with an empty data dir; the
// Blacklist's addSnapshotChunk / finishSnapshot are wrapped (on the instance, not edited) to
// time the staging writes and the final verify+swap. Reports {type:'ready', ...timings} once
// the channel emits 'synced' (kind snapshot) — all times CLOCK_MONOTONIC ns.
import { importSidecar, nowNs } from '../lib.mjs';

const { loadConfig, startSidecar } = await importSidecar();
const t = { start: nowNs() };
const sc = await startSidecar(
  loadConfig({
    ASTRDESK_SERVER_URL: process.env.BENCH_URL,
    ASTRDESK_INSTANCE_TOKEN: process.env.BENCH_TOKEN,
    SIDECAR_API_TOKEN: 'bench-api-token-0123456789',
    SIDECAR_PORT: '0',
    SIDECAR_DATA_DIR: process.env.BENCH_DIR,
    LOG_LEVEL: 'silent',
  }),
);
t.started = nowNs();
const bl = sc.cache;
let chunks = 0;
let stagedNs = 0;
const add = bl.addSnapshotChunk.bind(bl);
bl.addSnapshotChunk = (entries) => {
  const a = nowNs();
  t.first_chunk ??= a;
  add(entries);
  const b = nowNs();
  stagedNs += b - a;
  chunks++;
  t.last_chunk_staged = b;
};
const finish = bl.finishSnapshot.bind(bl);
bl.finishSnapshot = (revision, checksum) => {
  t.finish_start = nowNs();
  const r = finish(revision, checksum);
  t.finish_end = nowNs();
  return r;
};
sc.channel.once('welcome', () => {
  t.welcome = nowNs();
});
sc.channel.on('resync', (e) => process.send({ type: 'error', message: `resync: ${e.reason}` }));
const timer = setTimeout(() => {
  process.send({ type: 'fatal', message: 'no snapshot applied within 15 min' });
  process.exit(1);
}, 15 * 60_000);
sc.channel.on('synced', (e) => {
  if (e.kind !== 'snapshot') return;
  t.synced = nowNs();
  clearTimeout(timer);
  const lookupProbe = bl.lookup('qq', '1000000001') !== undefined;
  process.send({
    type: 'ready',
    t,
    chunks,
    staging_ms: stagedNs / 1e6,
    entries: e.entries,
    cache_size: bl.size,
    revision: bl.revision,
    lookup_probe_hit: lookupProbe,
    rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
    heap_used_mib: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  });
});
process.on('message', async (m) => {
  if (m?.type === 'shutdown') {
    await sc.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

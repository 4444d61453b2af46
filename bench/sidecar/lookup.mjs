// (a) Blacklist lookup: the sidecar's real `Blacklist.lookup` (flat hash-table probe + expiry
// check, from packages/sidecar/dist) at 10k / 100k / 1M entries, beside a bare Set, beside the
// index it replaced (platform → Map of user → entry) and beside Redis SISMEMBER on the local
// Redis (one-at-a-time round trips and pipelined).

import fs from 'node:fs';
import path from 'node:path';
import {
  buildSidecarDataDir,
  entryAt,
  importSidecar,
  load,
  log,
  nowNs,
  round,
  summary,
  tmpDir,
  wechatOpenId,
} from './lib.mjs';

const PREFIX = `astrdesk:bench:sidecar:${process.pid}:`;

/** Deterministic PRNG (mulberry32), so every run probes the same keys. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Times several probe functions over their query arrays. Each variant gets its own loop
 * function (its own call site, so the probe is inlined as it would be in the intercept), and
 * passes run round-robin — pass 1 of every variant, then pass 2, … — so that every variant
 * sees the same mix of background load. Per probe: wall time and process CPU time (CPU time
 * leaves out the time this process was descheduled; concurrent GC threads do count); median
 * and min over passes.
 */
function timeAll(variants, reps) {
  const loops = variants.map(
    () =>
      // a fresh function per variant = a fresh call site (own type feedback, probe inlined)
      new Function(
        'fn',
        'P',
        'U',
        'let s = 0; for (let i = 0; i < P.length; i++) if (fn(P[i], U[i])) s++; return s;',
      ),
  );
  const res = variants.map(() => ({ wall: [], cpu: [], sink: 0 }));
  for (let r = -1; r < reps; r++) {
    variants.forEach((v, k) => {
      const c0 = process.cpuUsage();
      const t0 = nowNs();
      const hits = loops[k](v.fn, v.P, v.U);
      const wall = (nowNs() - t0) / v.P.length;
      const c = process.cpuUsage(c0);
      res[k].sink += hits;
      if (r < 0) return; // warm-up pass
      res[k].wall.push(wall);
      res[k].cpu.push(((c.user + c.system) * 1000) / v.P.length);
    });
  }
  const mid = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  return Object.fromEntries(
    variants.map((v, k) => [
      v.name,
      {
        ns_per_op: round(mid(res[k].wall), 1),
        min_ns_per_op: round(Math.min(...res[k].wall), 1),
        cpu_ns_per_op: round(mid(res[k].cpu), 1),
        min_cpu_ns_per_op: round(Math.min(...res[k].cpu), 1),
        sink: res[k].sink,
      },
    ]),
  );
}

export async function runLookup({
  quick = false,
  sizes = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000],
} = {}) {
  const { Blacklist } = await importSidecar();
  const { default: Redis } = await import('ioredis');
  const redis = new Redis({
    host: '127.0.0.1',
    port: 6379,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: false,
  });
  redis.on('error', () => {});
  const Q = quick ? 1 << 16 : 1 << 17; // in-memory probes per pass
  const REPS = quick ? 5 : 15;
  const RTT_OPS = quick ? 2_000 : 20_000; // one-at-a-time Redis round trips per case
  const PIPE_OPS = quick ? 20_000 : 200_000;
  const PIPE_BATCH = 1000;
  // CPU speed indicator: a dependent integer loop; compare between runs (it grows with contention).
  const cal = (() => {
    let x = 0;
    const t0 = nowNs();
    for (let i = 0; i < 50_000_000; i++) x = (x + i * 7) | 0;
    return { int_loop_ns_per_iter: round((nowNs() - t0) / 50_000_000, 2), x };
  })();
  const out = {
    started: load(),
    calibration: { int_loop_ns_per_iter: cal.int_loop_ns_per_iter },
    config: {
      queries_per_pass: Q,
      passes: REPS,
      redis_rtt_ops: RTT_OPS,
      redis_pipelined_ops: PIPE_OPS,
      pipeline_batch: PIPE_BATCH,
    },
    sizes: [],
  };
  const keys = [];
  try {
    const info = await redis.info('server');
    out.redis_version = /redis_version:(\S+)/.exec(info)?.[1];
    for (const n of sizes) {
      log(`(a) lookup: building ${n} entries`);
      const now = Date.now();
      const dir = tmpDir('lookup');
      try {
        await buildSidecarDataDir(dir, n, { now });
        const bl = Blacklist.open(path.join(dir, 'blacklist.db'));
        if (bl.size !== n) throw new Error(`cache holds ${bl.size}, expected ${n}`);
        // Lookups right after open are primary-key probes of SQLite until the in-memory index
        // is complete (it fills in the background): time a few of those first, then wait.
        let whileLoading;
        if (bl.indexed === false) {
          const r0 = rng(n + 1);
          const k = 20_000;
          let hits = 0;
          const t = nowNs();
          for (let i = 0; i < k; i++) {
            const e = entryAt(Math.floor(r0() * n), n, now);
            if (bl.lookup(e.platform, i % 2 ? e.platform_user_id : `x${i}`) !== undefined) hits++;
          }
          whileLoading = { probes: k, ns_per_op: Math.round((nowNs() - t) / k), hits };
          const tl = nowNs();
          await bl.whenIndexed();
          whileLoading.index_fill_ms = round((nowNs() - tl) / 1e6, 1);
        }
        // Queries: hits are random existing entries; misses are users that are not listed, with
        // ids of the platform's shape. The text-id queries hit and miss wechat's openid-like ids
        // only (the table fingerprints those and confirms a match on the strings).
        const r = rng(n);
        const hitP = new Array(Q);
        const hitU = new Array(Q);
        const missP = new Array(Q);
        const missU = new Array(Q);
        const textP = new Array(Q).fill('wechat');
        const textHitU = new Array(Q);
        const textMissU = new Array(Q);
        const unlistedOpenId = () => wechatOpenId(n + Math.floor(r() * 1e12));
        for (let i = 0; i < Q; i++) {
          const e = entryAt(Math.floor(r() * n), n, now);
          hitP[i] = e.platform;
          hitU[i] = e.platform_user_id;
          missP[i] = e.platform;
          missU[i] =
            e.platform === 'wechat'
              ? unlistedOpenId()
              : String(3_000_000_000 + Math.floor(r() * 1e9));
          textHitU[i] = entryAt(Math.floor(n * (0.7 + 0.2 * r())), n, now).platform_user_id;
          textMissU[i] = unlistedOpenId();
        }
        const set = new Set();
        const nested = new Map(); // the previous index: platform → (user → entry)
        for (let i = 0; i < n; i++) {
          const e = entryAt(i, n, now);
          set.add(`${e.platform}\0${e.platform_user_id}`);
          if (!nested.has(e.platform)) nested.set(e.platform, new Map());
          nested.get(e.platform).set(e.platform_user_id, e);
        }
        // References: the joined key already built (what the probe costs without the concat).
        const hitK = hitP.map((p, i) => `${p}\0${hitU[i]}`);
        const missK = missP.map((p, i) => `${p}\0${missU[i]}`);
        const at = Date.now();
        const viaLookup = (p, u) => bl.lookup(p, u) !== undefined; // default clock: Date.now() per call
        const viaLookupAt = (p, u) => bl.lookup(p, u, at) !== undefined; // as Interceptor calls it
        const viaSet = (p, u) => set.has(`${p}\0${u}`);
        const viaSetPrebuilt = (_p, k) => set.has(k);
        const viaNested = (p, u) => {
          const e = nested.get(p)?.get(u);
          return e !== undefined && (e.expires_at === null || e.expires_at > at);
        };
        const mem = timeAll(
          [
            ['lookup_hit', viaLookup, hitP, hitU],
            ['lookup_miss', viaLookup, missP, missU],
            ['lookup_at_hit', viaLookupAt, hitP, hitU],
            ['lookup_at_miss', viaLookupAt, missP, missU],
            ['set_hit', viaSet, hitP, hitU],
            ['set_miss', viaSet, missP, missU],
            ['set_prebuilt_key_hit', viaSetPrebuilt, hitP, hitK],
            ['set_prebuilt_key_miss', viaSetPrebuilt, missP, missK],
            ['nested_map_hit', viaNested, hitP, hitU],
            ['nested_map_miss', viaNested, missP, missU],
            ['lookup_text_hit', viaLookup, textP, textHitU],
            ['lookup_text_miss', viaLookup, textP, textMissU],
          ].map(([name, fn, P, U]) => ({ name, fn, P, U })),
          REPS,
        );
        for (const [k, v] of Object.entries(mem)) {
          const expectHits = k.endsWith('hit') ? Q * (REPS + 1) : 0;
          if (v.sink !== expectHits)
            throw new Error(`${k}: ${v.sink} hits, expected ${expectHits}`);
          delete v.sink;
        }
        bl.close();

        // Redis: the same members in one set.
        const key = `${PREFIX}bl:${n}`;
        keys.push(key);
        await redis.del(key);
        const t0 = nowNs();
        for (let i = 0; i < n; i += 10_000) {
          const members = [];
          for (let j = i; j < Math.min(n, i + 10_000); j++) {
            const e = entryAt(j, n, now);
            members.push(`${e.platform}\0${e.platform_user_id}`);
          }
          await redis.sadd(key, ...members);
        }
        const loadS = (nowNs() - t0) / 1e9;
        if ((await redis.scard(key)) !== n) throw new Error('redis set size mismatch');

        // One-at-a-time round trips, hits and misses interleaved (so neither gets a warmer or
        // quieter stretch of time), each timed on its own.
        const rttBoth = async () => {
          const lat = { hit: new Float64Array(RTT_OPS), miss: new Float64Array(RTT_OPS) };
          const tot = { hit: 0, miss: 0 };
          const hits = { hit: 0, miss: 0 };
          for (let i = 0; i < 500; i++) await redis.sismember(key, `${hitP[i]}\0${hitU[i]}`); // warm-up
          for (let i = 0; i < RTT_OPS; i++) {
            for (const [k, P, U] of [
              ['hit', hitP, hitU],
              ['miss', missP, missU],
            ]) {
              const t = nowNs();
              hits[k] += await redis.sismember(key, `${P[i]}\0${U[i]}`);
              const dt = nowNs() - t;
              lat[k][i] = dt;
              tot[k] += dt;
            }
          }
          const one = (k) => ({
            ns_per_op: round(tot[k] / RTT_OPS, 0),
            ops_per_s: Math.round(RTT_OPS / (tot[k] / 1e9)),
            latency_us: summary(
              Array.from(lat[k], (x) => x / 1000),
              1,
            ),
            hits: hits[k],
          });
          return { hit: one('hit'), miss: one('miss') };
        };
        const piped = async (plats, users) => {
          let hits = 0;
          const tAll = nowNs();
          for (let i = 0; i < PIPE_OPS; i += PIPE_BATCH) {
            const p = redis.pipeline();
            for (let j = i; j < i + PIPE_BATCH; j++)
              p.sismember(key, `${plats[j % Q]}\0${users[j % Q]}`);
            for (const [err, v] of await p.exec()) {
              if (err) throw err;
              hits += v;
            }
          }
          const total = nowNs() - tAll;
          return {
            ns_per_op: round(total / PIPE_OPS, 0),
            ops_per_s: Math.round(PIPE_OPS / (total / 1e9)),
            hits,
          };
        };
        const both = await rttBoth();
        await piped(hitP, hitU); // warm-up
        const red = {
          rtt_hit: both.hit,
          rtt_miss: both.miss,
          pipelined_hit: await piped(hitP, hitU),
          pipelined_miss: await piped(missP, missU),
        };
        if (red.rtt_hit.hits !== RTT_OPS || red.rtt_miss.hits !== 0)
          throw new Error('redis rtt hit count wrong');
        if (red.pipelined_hit.hits !== PIPE_OPS || red.pipelined_miss.hits !== 0)
          throw new Error('redis pipelined hit count wrong');
        await redis.del(key);

        const ratio = (a, b) => round(a / b, 0);
        const rttP50 = (x) => x.latency_us.p50 * 1000;
        const row = {
          entries: n,
          sqlite_bytes: fs.statSync(path.join(dir, 'blacklist.db')).size,
          memory: mem,
          ...(whileLoading ? { lookup_while_index_loads: whileLoading } : {}),
          redis: { load_s: round(loadS, 2), ...red },
          ratios: {
            note:
              'Redis ÷ sidecar Blacklist.lookup (default clock), per probe. Headline: median one-at-a-time round trip ÷ median-pass lookup wall time (what a per-message check costs). ' +
              '_mean: mean round trip ÷ the same. _cpu: ÷ lookup CPU time. pipelined: pipelined ns/op ÷ lookup wall (the throughput bound).',
            rtt_hit: ratio(rttP50(red.rtt_hit), mem.lookup_hit.ns_per_op),
            rtt_miss: ratio(rttP50(red.rtt_miss), mem.lookup_miss.ns_per_op),
            rtt_hit_mean: ratio(red.rtt_hit.ns_per_op, mem.lookup_hit.ns_per_op),
            rtt_miss_mean: ratio(red.rtt_miss.ns_per_op, mem.lookup_miss.ns_per_op),
            rtt_hit_cpu: ratio(rttP50(red.rtt_hit), mem.lookup_hit.cpu_ns_per_op),
            rtt_miss_cpu: ratio(rttP50(red.rtt_miss), mem.lookup_miss.cpu_ns_per_op),
            pipelined_hit: ratio(red.pipelined_hit.ns_per_op, mem.lookup_hit.ns_per_op),
            pipelined_miss: ratio(red.pipelined_miss.ns_per_op, mem.lookup_miss.ns_per_op),
            ...(whileLoading
              ? { rtt_while_index_loads: ratio(rttP50(red.rtt_hit), whileLoading.ns_per_op) }
              : {}),
          },
          load_after: load(),
        };
        out.sizes.push(row);
        log(
          `(a) ${n}: lookup hit ${mem.lookup_hit.ns_per_op} ns, miss ${mem.lookup_miss.ns_per_op} ns (Set ${mem.set_hit.ns_per_op}/${mem.set_miss.ns_per_op}); ` +
            `redis rtt ${red.rtt_hit.ns_per_op} ns, pipelined ${red.pipelined_hit.ns_per_op} ns; ratio rtt ${row.ratios.rtt_hit}x / piped ${row.ratios.pipelined_hit}x`,
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    // Delete what we wrote: our keys, and anything else under our own prefix (bounded scan).
    if (keys.length) await redis.del(...keys).catch(() => {});
    let cursor = '0';
    for (let i = 0; i < 1000; i++) {
      const [next, found] = await redis
        .scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000)
        .catch(() => ['0', []]);
      if (found.length) await redis.del(...found).catch(() => {});
      cursor = next;
      if (cursor === '0') break;
    }
    out.redis_keys_left = (await redis.keys(`${PREFIX}*`).catch(() => [])).length;
    redis.disconnect();
  }
  out.finished = load();
  return out;
}

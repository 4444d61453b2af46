#!/usr/bin/env node
// Issue-03 sidecar benchmarks, one command:
//
//   node bench/sidecar/run.mjs [--quick] [--lookup] [--intercept] [--outbox-stall] [--propagation] [--cold-start] [--snapshot]
//
// With no benchmark flag all six run, in this order:
//   --lookup       (a) Blacklist.lookup at 10k/100k/1M vs a bare Set vs Redis SISMEMBER (round trip, pipelined)
//   --intercept    (b) POST /astrbot-api/v1/messages/intercept (built sidecar, real outbox) vs a bare node:http round trip
//   --outbox-stall (b, why) the Outbox at a steady 2,000 appends/s: commit latency tail and event-loop stalls with the
//                  background WAL flush on (default) and off, and purging every 5,000 rows, in one run
//   --propagation  (c) blacklist change committed → applied on 100 real sidecars, 100 and 1,000 lightweight clients
//   --cold-start   (d) `node packages/sidecar/dist/cli.js` with 1M entries in SQLite → /readyz 200
//   --snapshot     (e) a full snapshot of 1M entries: bytes, chunks, seconds; a real sidecar until 'synced'
// --quick: small sizes and short runs (a smoke test; figures are not the issue's).
// Tuning: --sizes=10000,100000 (a), --seconds=10 --entries=N (b), --changes=200 (c), --runs=5 (d).
// Needs the built dists (npx tsup in packages/protocol, packages/server, packages/sidecar) and
// Redis on 127.0.0.1:6379 for (a). Writes bench/results/sidecar-<bench>-<time>.json per
// benchmark and bench/results/sidecar-summary-<time>.md; prints the summary.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  distInfo,
  load,
  log,
  machine,
  RESULTS_DIR,
  SERVER_DIST,
  SIDECAR_CLI,
  writeJson,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    lookup: { type: 'boolean', default: false },
    intercept: { type: 'boolean', default: false },
    'outbox-stall': { type: 'boolean', default: false },
    propagation: { type: 'boolean', default: false },
    'cold-start': { type: 'boolean', default: false },
    snapshot: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    seconds: { type: 'string' },
    entries: { type: 'string' },
    changes: { type: 'string' },
    runs: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  const src = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n');
  console.log(
    src
      .slice(
        1,
        src.findIndex((l) => l.startsWith('import')),
      )
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n'),
  );
  process.exit(0);
}
for (const f of [SIDECAR_CLI, SERVER_DIST])
  if (!fs.existsSync(f)) {
    console.error(
      `missing ${f}: run npx tsup in packages/protocol, packages/server and packages/sidecar first`,
    );
    process.exit(2);
  }

const quick = values.quick;
const names = ['lookup', 'intercept', 'outbox-stall', 'propagation', 'cold-start', 'snapshot'];
const selected = names.filter((n) => values[n]);
const todo = selected.length ? selected : names;
const num = (s) => (s === undefined ? undefined : Number(s));

const info = machine();
log(
  `machine: ${info.nproc} × ${info.cpu_model}, ${info.ram_gib} GiB, node ${info.node}; ${info.load_at_start.uptime}`,
);
const results = {};
const files = {};
for (const name of todo) {
  const started = new Date().toISOString();
  const dist = distInfo();
  let result;
  try {
    if (name === 'lookup') {
      const { runLookup } = await import('./lookup.mjs');
      result = await runLookup({
        quick,
        ...(values.sizes ? { sizes: values.sizes.split(',').map(Number) } : {}),
      });
    } else if (name === 'intercept') {
      const { runIntercept } = await import('./intercept.mjs');
      result = await runIntercept({
        quick,
        ...(values.seconds ? { seconds: num(values.seconds) } : {}),
        ...(values.entries ? { entries: num(values.entries) } : {}),
      });
    } else if (name === 'outbox-stall') {
      const { runOutboxStall } = await import('./outbox-stall.mjs');
      result = await runOutboxStall({ quick });
    } else if (name === 'propagation') {
      const { runPropagation } = await import('./propagation.mjs');
      const opts = { quick };
      if (values.changes) {
        const changes = num(values.changes);
        opts.cases = quick
          ? [
              { clients: 20, mode: 'real', changes },
              { clients: 100, mode: 'light', changes },
            ]
          : [
              { clients: 100, mode: 'real', changes },
              { clients: 100, mode: 'light', changes },
              { clients: 1000, mode: 'light', changes },
            ];
      }
      result = await runPropagation(opts);
    } else if (name === 'cold-start') {
      const { runColdStart } = await import('./cold-start.mjs');
      result = await runColdStart({
        quick,
        ...(values.runs ? { runs: num(values.runs) } : {}),
        ...(values.entries ? { entries: num(values.entries) } : {}),
      });
    } else if (name === 'snapshot') {
      const { runSnapshot } = await import('./snapshot.mjs');
      result = await runSnapshot({
        quick,
        ...(values.entries ? { entries: num(values.entries) } : {}),
      });
    }
  } catch (err) {
    log(`${name} FAILED: ${err?.stack ?? err}`);
    result = { failed: String(err?.stack ?? err) };
  }
  results[name] = result;
  files[name] = writeJson(name, { benchmark: name, quick, started, machine: info, dist, result });
  log(`${name}: ${path.relative(process.cwd(), files[name])}`);
}

// ---- summary ------------------------------------------------------------------------------
const L = [];
const ok = (b) => (b ? 'meets' : 'MISSES');
L.push(`# Sidecar benchmarks${quick ? ' (--quick: smoke sizes, not the issue figures)' : ''}`);
L.push('');
L.push(
  `${info.date_utc} · ${info.nproc} × ${info.cpu_model} · ${info.ram_gib} GiB RAM · node ${info.node} · git ${info.git_head}`,
);
L.push(`load at start: ${info.load_at_start.uptime}; at end: ${load().uptime}`);
L.push('');
const a = results.lookup;
if (a && !a.failed) {
  L.push('## (a) lookup vs Redis SISMEMBER (target ≥ 100×)');
  L.push('');
  L.push(
    `CPU speed indicator: integer loop ${a.calibration?.int_loop_ns_per_iter} ns/iteration (a dependent loop: it grows with contention; compare between runs). Lookup figures: median of passes, wall (CPU time).`,
  );
  L.push('');
  L.push(
    '| entries | Blacklist.lookup hit / miss ns | lookup(p,u,now) hit / miss | bare Set hit / miss | Set, key prebuilt | previous index (platform → Map) | lookup, wechat text ids hit / miss | Redis RTT p50 hit / miss µs (mean ns) | Redis pipelined hit / miss ns/op | ratio RTT p50 ÷ lookup hit / miss | ratio vs lookup CPU | ratio mean | ratio pipelined | target (RTT) |',
  );
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of a.sizes) {
    const m = s.memory;
    const r = s.redis;
    const x = s.ratios;
    L.push(
      `| ${s.entries.toLocaleString('en')} | ${m.lookup_hit.ns_per_op} / ${m.lookup_miss.ns_per_op} (${m.lookup_hit.cpu_ns_per_op} / ${m.lookup_miss.cpu_ns_per_op}) | ${m.lookup_at_hit.ns_per_op} / ${m.lookup_at_miss.ns_per_op} | ` +
        `${m.set_hit.ns_per_op} / ${m.set_miss.ns_per_op} | ${m.set_prebuilt_key_hit?.ns_per_op} / ${m.set_prebuilt_key_miss?.ns_per_op} | ${m.nested_map_hit?.ns_per_op} / ${m.nested_map_miss?.ns_per_op} | ${m.lookup_text_hit?.ns_per_op} / ${m.lookup_text_miss?.ns_per_op} | ` +
        `${r.rtt_hit.latency_us.p50} / ${r.rtt_miss.latency_us.p50} (${r.rtt_hit.ns_per_op} / ${r.rtt_miss.ns_per_op}) | ${r.pipelined_hit.ns_per_op} / ${r.pipelined_miss.ns_per_op} | ` +
        `${x.rtt_hit}× / ${x.rtt_miss}× | ${x.rtt_hit_cpu}× / ${x.rtt_miss_cpu}× | ${x.rtt_hit_mean}× / ${x.rtt_miss_mean}× | ${x.pipelined_hit}× / ${x.pipelined_miss}× | ${ok(Math.min(x.rtt_hit, x.rtt_miss) >= 100)} |`,
    );
  }
  L.push('');
}
const b = results.intercept;
if (b && !b.failed) {
  L.push('## (b) intercept over HTTP vs bare loopback round trip (target p99 ≤ 2× bare)');
  L.push('');
  L.push(
    '| config | load | bare p50 / p99 ms | bare req/s | sidecar p50 / p99 ms | sidecar req/s | p99 ratio | open loop: p99 ratio from due time (client-queued) | sidecar cores / other load | target |',
  );
  L.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of b.runs) {
    L.push(
      `| sync=${r.config.SIDECAR_OUTBOX_SYNC} log=${r.config.LOG_LEVEL}${r.config.variant ? ` **what-if: ${r.config.variant}**` : ''} | ${r.connections} | ${r.bare.latency_ms.p50} / ${r.bare.latency_ms.p99} | ${r.bare.req_per_s} | ` +
        `${r.sidecar.latency_ms.p50} / ${r.sidecar.latency_ms.p99} | ${r.sidecar.req_per_s} | ${r.p99_ratio}× | ${r.corrected_p99_ratio === undefined ? '' : `${r.corrected_p99_ratio}× (${r.sidecar.client_queued})`} | ${r.sidecar.cpu.target_cores} / ${r.sidecar.cpu.other_processes_cores} | ${ok(r.p99_ratio <= 2)} |`,
    );
  }
  L.push('');
  for (const p of b.profiles ?? []) {
    if (!p.summary) continue;
    L.push(
      `profiled run (${p.config}, c=${p.connections}, ${p.req_per_s} req/s), self time by function:`,
    );
    for (const x of p.summary.self_by_function.slice(0, 10))
      L.push(`  ${x.pct_of_busy}%  ${x.ms} ms  ${x.what}`);
    L.push('');
  }
}
const st = results['outbox-stall'];
if (st && !st.failed) {
  L.push(
    `## (b, why) outbox commit stalls at ${st.config.rate.toLocaleString('en')} appends/s (medians of ${st.config.rounds} rounds of ${st.config.seconds} s)`,
  );
  L.push('');
  L.push(
    '| outbox | WAL flush ms | purge every | append p50 / p99 / p99.9 / max ms | longest loop stall ms | loop stalls > 5 / > 20 ms |',
  );
  L.push('|---|---|---|---|---|---|');
  for (const [name, m] of Object.entries(st.modes)) {
    const x = m.median;
    L.push(
      `| ${name} | ${m.walFlushMs || 'off'} | ${m.purgeRows.toLocaleString('en')} | ${x.append_p50_ms} / ${x.append_p99_ms} / ${x.append_p999_ms} / ${x.append_max_ms} | ${x.loop_stall_max_ms} | ${x.stalls_over_5ms} / ${x.stalls_over_20ms} |`,
    );
  }
  L.push('');
}
const c = results.propagation;
if (c && !c.failed) {
  L.push('## (c) change committed → applied (target p99 < 200 ms)');
  L.push('');
  L.push(
    '| clients | kind | changes | commit→applied p50 / p99 / max ms | last client per change p50 / p99 / max ms | POST sent→applied p99 | missing | target |',
  );
  L.push('|---|---|---|---|---|---|---|---|');
  for (const r of c.cases) {
    const x = r.commit_to_applied_ms;
    const l = r.per_change_last_client_ms;
    L.push(
      `| ${r.clients} | ${r.mode} | ${r.changes} | ${x.p50} / ${x.p99} / ${x.max} | ${l.p50} / ${l.p99} / ${l.max} | ${r.post_sent_to_applied_ms.p99} | ${r.missing_changes} | ${ok(x.p99 < 200 && r.missing_changes === 0)} |`,
    );
  }
  L.push('');
  if (c.profiled?.server_profile) {
    const p = c.profiled.server_profile;
    L.push(
      `server profile (${c.profiled.clients} ${c.profiled.mode} clients, ${c.profiled.changes} changes; not a measured case), self time by function:`,
    );
    for (const x of p.self_by_function.slice(0, 10))
      L.push(`  ${x.pct_of_busy}%  ${x.ms} ms  ${x.what}`);
    L.push('inclusive, packages/server functions:');
    for (const x of p.inclusive_server_functions.slice(0, 10))
      L.push(`  ${x.pct_of_busy}%  ${x.ms} ms  ${x.what}`);
    L.push('');
  }
}
const d = results['cold-start'];
if (d && !d.failed) {
  L.push(
    `## (d) cold start with ${d.config.entries.toLocaleString('en')} entries → /readyz 200 (target < 1 s)`,
  );
  L.push('');
  L.push(
    `runs: ${d.runs.map((r) => r.ready_ms).join(', ')} ms → median ${d.ready_ms.median} ms: ${ok(d.meets_target)}`,
  );
  L.push(
    `empty cache: median ${d.empty_cache_ready_ms.median} ms; \`node -e 0\`: median ${d.node_e_0_ms.median} ms; --max-semi-space-size=64: median ${d.what_if_max_semi_space_64_ready_ms?.median} ms`,
  );
  L.push(`breakdown (fresh process): ${JSON.stringify(d.breakdown)}`);
  if (d.profile) {
    L.push('profile, self time by line:');
    for (const x of d.profile.self_by_line.slice(0, 8))
      L.push(`  ${x.pct_of_busy}%  ${x.ms} ms  ${x.what}`);
  }
  L.push('');
}
const e = results.snapshot;
if (e && !e.failed) {
  const m = e.minimal_client;
  const r = e.real_sidecar;
  L.push(`## (e) full snapshot of ${e.config.entries.toLocaleString('en')} entries`);
  L.push('');
  L.push(
    `minimal client: ${m.total_payload_bytes.toLocaleString('en')} B payload (${m.payload_mib} MiB, ${m.bytes_per_entry} B/entry; TCP read ${m.tcp_bytes_read?.toLocaleString('en')} B), ` +
      `${m.chunks} chunks, ${m.seconds_hello_to_end} s hello→snapshot_end, checksum ${m.checksum_ok ? 'ok' : 'MISMATCH'}`,
  );
  L.push(
    `real sidecar: ${r.seconds_startSidecar_to_synced} s startSidecar→'synced' (cache.size ${r.cache_size}); staging ${r.seconds_in_addSnapshotChunk_sqlite_staging} s, finishSnapshot ${r.seconds_finishSnapshot_verify_and_swap} s`,
  );
  L.push('');
}
for (const [n, r] of Object.entries(results))
  if (r?.failed) L.push(`**${n} FAILED**: ${r.failed.split('\n')[0]}`);
L.push('');
L.push(
  `JSON: ${Object.values(files)
    .map((f) => path.relative(path.resolve(RESULTS_DIR, '..', '..'), f))
    .join(', ')}`,
);
const md = L.join('\n');
const mdFile = path.join(
  RESULTS_DIR,
  `sidecar-summary-${new Date().toISOString().replace(/[:.]/g, '-')}.md`,
);
fs.writeFileSync(mdFile, `${md}\n`);
console.log(md);
process.exit(Object.values(results).some((r) => r?.failed) ? 1 : 0);

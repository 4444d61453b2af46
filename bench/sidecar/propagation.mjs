// (c) Change committed → applied on N connected sidecars. A real server (child process,
// SQLite), one tenant, N instances (one instance token per client, as in production), a
// change log of BASE entries made through the API; N control-channel clients in another
// child process (lightweight ws clients, or real `startSidecar` instances). Then, one at a
// time, POST /v1/blacklist and wait until every client has applied the delta.
//
// Latency per client and change = applied-time − commit-time, where commit-time is when the
// server's event bus published `blacklist.changed` (right after the transaction committed; the
// server child timestamps it) — both CLOCK_MONOTONIC. Also reported: from the moment the POST
// was sent (includes the HTTP request and the transaction).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  cpuMeter,
  forkChild,
  HERE,
  load,
  log,
  nextMessage,
  nowNs,
  round,
  sleep,
  stopChild,
  summary,
  tmpDir,
} from './lib.mjs';

const BASE = 100;

export async function runPropagation({
  quick = false,
  cases = quick
    ? [
        { clients: 20, mode: 'real', changes: 20 },
        { clients: 100, mode: 'light', changes: 20 },
      ]
    : [
        { clients: 100, mode: 'real', changes: 200 },
        { clients: 100, mode: 'light', changes: 200 },
        { clients: 1000, mode: 'light', changes: 200 },
        // not a measured case: the same under --cpu-prof, to see where the server's time goes
        { clients: 1000, mode: 'light', changes: 50, profileServer: true },
      ],
  gapMs = 50,
} = {}) {
  const out = { started: load(), config: { base_entries: BASE, gap_ms: gapMs }, cases: [] };
  for (const c of cases) {
    log(`(c) propagation: ${c.clients} ${c.mode} clients, ${c.changes} changes`);
    let server;
    let clients;
    const dataDir = c.mode === 'real' ? tmpDir('prop-sidecars') : undefined;
    const profDir = c.profileServer ? tmpDir('prop-prof') : undefined;
    try {
      server = await forkChild(path.join(HERE, 'children', 'server.mjs'), {
        env: { BENCH_INSTANCES: String(c.clients), BENCH_SEED_API: String(BASE) },
      });
      const { url, ownerToken, tokens, revision: base, entries: baseEntries } = server.msg;
      const commits = new Map();
      server.child.on('message', (m) => {
        if (m?.type === 'commit') commits.set(m.revision, m.t);
      });

      clients = fork(path.join(HERE, 'children', 'clients.mjs'), [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      await nextMessage(clients, (m) => m?.type === 'spawned', 30_000, 'clients child');
      const errors = [];
      const arrivals = new Map();
      const snapshots = [];
      clients.on('message', (m) => {
        if (m?.type === 'arrived') arrivals.set(m.revision, m);
        if (m?.type === 'snapshot') snapshots.push(m);
        if (m?.type === 'error' && errors.length < 50) errors.push(m.message);
      });
      clients.send({
        type: 'start',
        url,
        tokens,
        since: base,
        entries: baseEntries,
        mode: c.mode,
        dataDir,
      });
      const ready = await nextMessage(
        clients,
        (m) => m?.type === 'ready' || m?.type === 'fatal',
        600_000,
        'clients ready',
      );
      if (ready.type === 'fatal') throw new Error(ready.message);
      log(
        `(c) ${ready.connected} clients connected in ${round(ready.connect_s, 1)} s at revision ${base}`,
      );
      await sleep(1000);

      const fromCommit = [];
      const fromCommitRecv = [];
      const fromPost = [];
      const lastFromCommit = [];
      const firstFromCommit = [];
      const commitAfterPost = [];
      const postRtt = [];
      let missing = 0;
      if (c.profileServer) {
        server.child.send({ type: 'profile-start' });
        await nextMessage(
          server.child,
          (m) => m?.type === 'profile-started',
          30_000,
          'server profiler',
        );
      }
      const meter = cpuMeter({ server: server.child.pid, clients: clients.pid });
      for (let i = 0; i < c.changes; i++) {
        const rev = base + i + 1;
        const tPost = nowNs();
        const res = await fetch(`${url}/v1/blacklist`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ownerToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ platform: 'qq', platform_user_id: `prop-${i}`, reason: 'bench' }),
        });
        const tResp = nowNs();
        await res.text();
        if (res.status !== 201) throw new Error(`POST /v1/blacklist → ${res.status}`);
        postRtt.push((tResp - tPost) / 1e6);
        // Wait (bounded) until every client applied it.
        const deadline = Date.now() + 15_000;
        while ((!arrivals.has(rev) || !commits.has(rev)) && Date.now() < deadline) await sleep(2);
        const a = arrivals.get(rev);
        const tc = commits.get(rev);
        if (!a || tc === undefined) {
          missing++;
          log(
            `(c) revision ${rev}: ${a ? 'no commit timestamp' : 'not applied by every client'} within 15 s`,
          );
          continue;
        }
        arrivals.delete(rev);
        commitAfterPost.push((tc - tPost) / 1e6);
        let last = 0;
        let first = Infinity;
        for (let k = 0; k < a.applied.length; k++) {
          const ms = (a.applied[k] - tc) / 1e6;
          fromCommit.push(ms);
          fromCommitRecv.push((a.recv[k] - tc) / 1e6);
          fromPost.push((a.applied[k] - tPost) / 1e6);
          if (ms > last) last = ms;
          if (ms < first) first = ms;
        }
        lastFromCommit.push(last);
        firstFromCommit.push(first);
        await sleep(gapMs);
      }
      const cpu = meter();
      const row = {
        clients: c.clients,
        mode: c.mode,
        client_kind:
          c.mode === 'real'
            ? 'startSidecar from packages/sidecar/dist (own SQLite + HTTP port each), all in one child process; applied = channel "synced" event'
            : 'lightweight ws clients in one child process (hello since=revision, apply delta to a Map, ack); applied = after apply + ack',
        changes: c.changes,
        base_revision: base,
        connect_s: round(ready.connect_s, 2),
        missing_changes: missing,
        unrequested_snapshots: {
          count: snapshots.length,
          note: 'snapshots the server sent to light clients that never asked for one (expected: 0)',
          first: snapshots.slice(0, 5),
        },
        errors,
        commit_to_applied_ms: summary(fromCommit),
        commit_to_received_ms: summary(fromCommitRecv),
        post_sent_to_applied_ms: summary(fromPost),
        per_change_last_client_ms: summary(lastFromCommit),
        per_change_first_client_ms: summary(firstFromCommit),
        post_sent_to_commit_ms: summary(commitAfterPost),
        post_round_trip_ms: summary(postRtt),
        cpu_during_changes: cpu,
        load_after: load(),
      };
      if (c.profileServer) {
        const file = path.join(profDir, 'server.cpuprofile');
        server.child.send({ type: 'profile-stop', file });
        await nextMessage(
          server.child,
          (m) => m?.type === 'profile-stopped',
          60_000,
          'server profile',
        );
        const { summarize } = await import('../lib/cpuprofile-summary.mjs');
        const s = summarize(JSON.parse(fs.readFileSync(file, 'utf8')), {
          top: 20,
          pkg: '@astrdesk/server',
        });
        row.server_profile = {
          note: 'server process, from the first POST to the last delta applied (not a measured case: the profiler slows it)',
          busy_ms: s.busy_ms,
          idle_pct: s.idle_pct,
          self_by_package: s.self_by_package.slice(0, 10),
          self_by_function: s.self_by_function.slice(0, 20),
          self_by_line: s.self_by_line.slice(0, 20),
          inclusive_server_functions: s.inclusive_server_functions.slice(0, 25),
        };
        out.profiled = row;
      } else out.cases.push(row);
      log(
        `(c) ${c.clients} ${c.mode}: commit→applied p50 ${row.commit_to_applied_ms.p50} p99 ${row.commit_to_applied_ms.p99} ms; ` +
          `last client per change p50 ${row.per_change_last_client_ms.p50} p99 ${row.per_change_last_client_ms.p99} max ${row.per_change_last_client_ms.max} ms`,
      );
    } finally {
      await stopChild(clients, 60_000);
      await stopChild(server?.child);
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      if (profDir) fs.rmSync(profDir, { recursive: true, force: true });
    }
  }
  out.finished = load();
  return out;
}

// N control-channel clients in one process, for the propagation bench (c).
//
// mode "light": a minimal sidecar per token — a `ws` client (perMessageDeflate off, as the
//   sidecar) that says hello {since}, applies each delta to a Map when from_revision matches,
//   acks it, answers pings. Per delta it records the arrival time (message event, before
//   parsing) and the applied time (after apply + ack).
// mode "real": `startSidecar` from packages/sidecar/dist per token (own data dir, SQLite,
//   HTTP port, control channel); the applied time is its channel's 'synced' event.
//
// IPC in: {type:'start', url, tokens, since, entries, mode, dataDir?}; {type:'shutdown'}.
// (A light client says hello {since, entries} as a sidecar holding that set would; the server
// answers a hello whose entry count differs from its own with a snapshot.)
// IPC out: {type:'ready', connected, revision, connect_s}; for every revision once all N
// clients applied it: {type:'arrived', revision, recv:[ns], applied:[ns]}; {type:'error', ...}.
import path from 'node:path';
import WebSocket from 'ws';
import { importSidecar, nowNs, onShutdown } from '../lib.mjs';

const clients = [];
const pending = new Map(); // revision → { recv: [], applied: [] }
let N = 0;

function record(revision, recv, applied) {
  let p = pending.get(revision);
  if (!p) {
    p = { recv: [], applied: [] };
    pending.set(revision, p);
  }
  p.recv.push(recv);
  p.applied.push(applied);
  if (p.applied.length === N) {
    pending.delete(revision);
    process.send({ type: 'arrived', revision, recv: p.recv, applied: p.applied });
  }
}

function lightClient(url, token, since, entries) {
  return new Promise((resolve, reject) => {
    const c = { rev: since, set: new Map(), ws: null };
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/sidecar/connect`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    c.ws = ws;
    const timer = setTimeout(() => reject(new Error('no welcome within 30 s')), 30_000);
    ws.on('open', () =>
      ws.send(JSON.stringify({ v: 1, type: 'hello', since, version: 'bench-light/1', entries })),
    );
    ws.on('message', (data) => {
      const recv = nowNs();
      const f = JSON.parse(data.toString());
      switch (f.type) {
        case 'welcome':
          clearTimeout(timer);
          if (f.revision !== since)
            reject(new Error(`welcome revision ${f.revision} ≠ since ${since}`));
          else resolve(c);
          return;
        case 'delta':
          if (f.from_revision !== c.rev) {
            process.send({
              type: 'error',
              message: `gap: local ${c.rev}, delta from ${f.from_revision}`,
            });
            ws.send(JSON.stringify({ v: 1, type: 'resync', reason: 'gap' }));
            return;
          }
          for (const ch of f.changes) {
            if (ch.op === 'upsert')
              c.set.set(`${ch.entry.platform}\0${ch.entry.platform_user_id}`, ch.entry);
            else c.set.delete(`${ch.platform}\0${ch.platform_user_id}`);
          }
          c.rev = f.revision;
          ws.send(JSON.stringify({ v: 1, type: 'ack', revision: f.revision }));
          record(f.revision, recv, nowNs());
          return;
        case 'ping':
          ws.send(JSON.stringify({ v: 1, type: 'pong', ts: f.ts }));
          return;
        // A snapshot the client did not ask for (the server falls back to one when it cannot
        // continue with changes): applied like the sidecar does; revisions it covers count as
        // applied at snapshot_end.
        case 'snapshot_begin':
          c.staging = [];
          c.snapBegin = { revision: f.revision, local: c.rev, at: recv };
          return;
        case 'snapshot_chunk':
          if (c.staging) for (const e of f.entries) c.staging.push(e);
          return;
        case 'snapshot_end': {
          const entries = c.staging ?? [];
          c.set = new Map(entries.map((e) => [`${e.platform}\0${e.platform_user_id}`, e]));
          c.staging = undefined;
          const from = c.rev;
          c.rev = f.revision;
          ws.send(JSON.stringify({ v: 1, type: 'ack', revision: f.revision }));
          const done = nowNs();
          process.send({
            type: 'snapshot',
            local: from,
            revision: f.revision,
            entries: entries.length,
            ms: (done - c.snapBegin.at) / 1e6,
          });
          for (let r = from + 1; r <= f.revision; r++) record(r, recv, done);
          return;
        }
        default:
          process.send({ type: 'error', message: `unexpected ${f.type}` });
      }
    });
    ws.on('error', (err) => reject(err));
    ws.on('close', (code) => {
      if (!shuttingDown) process.send({ type: 'error', message: `socket closed ${code}` });
    });
  });
}

let shuttingDown = false;
let sidecarMod;
async function realClient(url, token, dir, expectRevision) {
  sidecarMod ??= await importSidecar();
  const { loadConfig, startSidecar } = sidecarMod;
  const sc = await startSidecar(
    loadConfig({
      ASTRDESK_SERVER_URL: url,
      ASTRDESK_INSTANCE_TOKEN: token,
      SIDECAR_API_TOKEN: 'bench-api-token-0123456789',
      SIDECAR_PORT: '0',
      SIDECAR_DATA_DIR: dir,
      LOG_LEVEL: 'silent',
    }),
  );
  let initial;
  const ready = new Promise((resolve, reject) => {
    initial = setTimeout(() => reject(new Error('real sidecar not synced within 60 s')), 60_000);
    sc.channel.on('synced', (e) => {
      if (e.revision === expectRevision && e.kind === 'snapshot') {
        clearTimeout(initial);
        resolve();
      }
    });
  });
  sc.channel.on('synced', (e) => {
    const t = nowNs();
    if (e.kind === 'delta') record(e.revision, t, t);
  });
  sc.channel.on('resync', (e) => process.send({ type: 'error', message: `resync: ${e.reason}` }));
  await ready;
  return { sc };
}

process.on('message', async (m) => {
  if (m?.type !== 'start') return;
  try {
    N = m.tokens.length;
    const t0 = nowNs();
    const BATCH = m.mode === 'real' ? 10 : 50;
    for (let i = 0; i < N; i += BATCH) {
      const part = m.tokens.slice(i, i + BATCH);
      const made = await Promise.all(
        part.map((tok, k) =>
          m.mode === 'real'
            ? realClient(m.url, tok, path.join(m.dataDir, `sc-${i + k}`), m.since)
            : lightClient(m.url, tok, m.since, m.entries),
        ),
      );
      clients.push(...made);
    }
    process.send({ type: 'ready', connected: clients.length, connect_s: (nowNs() - t0) / 1e9 });
  } catch (err) {
    process.send({ type: 'fatal', message: String(err?.stack ?? err) });
  }
});

onShutdown(async () => {
  shuttingDown = true;
  await Promise.all(
    clients.map(async (c) => {
      if (c.sc) await c.sc.close().catch(() => {});
      else c.ws?.terminate();
    }),
  );
});
process.send({ type: 'spawned' });

// The AstrDesk server for benches (c) and (e), in its own process: `startServer` from
// packages/server/dist on SQLite in a temp DATA_DIR; a tenant made through the public flow
// (signup → operator approve → owner login); BENCH_INSTANCES instances (POST /v1/instances,
// one token each); optionally BENCH_SEED_API entries through POST /v1/blacklist/batch (a real
// change log), or BENCH_SEED_BULK entries inserted straight into the database (a
// blacklist_entries row each plus the tenant's blacklist_revisions row = BENCH_SEED_BULK;
// no change log, so a new sidecar gets a snapshot).
//
// IPC out: {type:'ready', url, tenantId, ownerToken, tokens, revision, entries, pid, seed_s}, and
// {type:'commit', revision, t} for every `blacklist.changed` the event bus publishes (that is
// right after the writing transaction committed; t = CLOCK_MONOTONIC ns, comparable with the
// other processes' timestamps). IPC in: {type:'shutdown'}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import inspector from 'node:inspector';
import os from 'node:os';
import path from 'node:path';
import { call as apiCall, setupTenant } from '../../lib/api.mjs';
import { entryAt, importServer, nowNs, onShutdown } from '../lib.mjs';

const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 1);
const SEED_API = Number(process.env.BENCH_SEED_API ?? 0);
const SEED_BULK = Number(process.env.BENCH_SEED_BULK ?? 0);

const { createOperator, loadConfig, startServer } = await importServer();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-sidecar-bench-server-'));
const config = loadConfig({
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dataDir,
  LOG_LEVEL: process.env.LOG_LEVEL || 'silent',
  ASTRDESK_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
  API_KEY_RATE_LIMIT_PER_MINUTE: '10000000',
});
const srv = await startServer({ config });
// On request, a CPU profile of a window (the propagation bench profiles only its changes).
let session;
const post = (method, params) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (err, r) => (err ? reject(err) : resolve(r))),
  );
process.on('message', async (m) => {
  if (m?.type === 'profile-start') {
    session = new inspector.Session();
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
    process.send({ type: 'profile-started' });
  } else if (m?.type === 'profile-stop' && session) {
    const { profile } = await post('Profiler.stop');
    session.disconnect();
    fs.writeFileSync(m.file, JSON.stringify(profile));
    process.send({ type: 'profile-stopped' });
  }
});
onShutdown(async () => {
  await srv.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const call = (method, p, body, token) => apiCall(srv.url, method, p, body, token);

try {
  const operator = await createOperator(srv.services.db, 'bench');
  const { tenantId, sessionToken: ownerToken } = await setupTenant(srv.url, operator.token, {
    name: 'Sidecar Bench',
    email: 'owner@sidecar-bench.example',
  });

  const tokens = new Array(INSTANCES);
  for (let i = 0; i < INSTANCES; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, INSTANCES - i) }, async (_, k) => {
        const inst = await call(
          'POST',
          '/v1/instances',
          { name: `bench-${i + k}`, platforms: ['qq'] },
          ownerToken,
        );
        tokens[i + k] = inst.token;
      }),
    );
  }

  const t0 = nowNs();
  for (let i = 0; i < SEED_API; i += 1000) {
    await call(
      'POST',
      '/v1/blacklist/batch',
      {
        entries: Array.from({ length: Math.min(1000, SEED_API - i) }, (_, k) => ({
          platform: 'qq',
          platform_user_id: `seed-${i + k}`,
          reason: 'seed',
        })),
      },
      ownerToken,
    );
  }
  if (SEED_BULK > 0) {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(config.database.file);
    db.pragma('busy_timeout = 10000');
    const now = Date.now();
    const ins = db.prepare(
      `INSERT INTO blacklist_entries (id, tenant_id, platform, platform_user_id, reason, expires_at, operator, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    db.transaction(() => {
      for (let i = 0; i < SEED_BULK; i++) {
        const e = entryAt(i, SEED_BULK, now);
        ins.run(
          e.id,
          tenantId,
          e.platform,
          e.platform_user_id,
          e.reason,
          e.expires_at,
          'member:bench',
          now,
          now,
        );
      }
      db.prepare(
        `INSERT INTO blacklist_revisions (tenant_id, revision) VALUES (?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET revision = excluded.revision`,
      ).run(tenantId, SEED_BULK);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
  }
  const seedS = (nowNs() - t0) / 1e9;

  srv.services.events.bus.subscribe((e) => {
    if (e.type === 'blacklist.changed' && e.tenantId === tenantId)
      process.send({ type: 'commit', revision: e.data.revision, t: nowNs() });
  });
  const rev = await srv.services.db
    .selectFrom('blacklist_revisions')
    .select('revision')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  const count = await srv.services.db
    .selectFrom('blacklist_entries')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  process.send({
    type: 'ready',
    entries: Number(count.n),
    url: srv.url,
    tenantId,
    ownerToken,
    tokens,
    revision: rev ? Number(rev.revision) : 0,
    pid: process.pid,
    seed_s: Math.round(seedS * 100) / 100,
    db_bytes: fs.statSync(config.database.file).size,
  });
} catch (err) {
  process.send({ type: 'fatal', message: String(err?.stack ?? err) });
  await srv.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
}

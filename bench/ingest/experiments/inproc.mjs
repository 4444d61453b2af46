// EXPERIMENT: ingestBatch called in-process (no HTTP, no other clients), to split the server's
// CPU per event into fixed per-batch and per-event parts. Uses the bench build
// (bench/ingest/.build, made by run.mjs).
//   node bench/ingest/experiments/inproc.mjs [batches=100,500] [rounds=40]
// BUILD=path/to/server.js runs another build (e.g. one made by run.mjs --patch under .work/).
// PRAGMA='wal_autocheckpoint=10000' sets SQLite pragmas on the server's connection first.
// Add --require ./bench/ingest/experiments/sql-timing.cjs for the statement breakdown.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { startServer, loadConfig, createOperator, ingestBatch, parseBatch, openDatabase } =
  await import(
    pathToFileURL(process.env.BUILD ?? path.join(HERE, '..', '.build', 'dist', 'server.js')).href
  );
const sizes = (process.argv[2] ?? '100,500').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 40);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-inproc-'));
const config = loadConfig({
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: dir,
  DATABASE_URL: process.env.PG_URL ?? `sqlite:${path.join(dir, 'a.db')}`,
  LOG_LEVEL: 'silent',
  ASTRDESK_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
});
// PG_URL=postgres://… runs on PostgreSQL in a fresh schema (dropped at the end).
const pgSchema = `bench_inproc_${crypto.randomBytes(4).toString('hex')}`;
const database = process.env.PG_URL
  ? openDatabase({ kind: 'postgres', url: process.env.PG_URL, schema: pgSchema })
  : undefined;
const srv = await startServer({ config, ...(database ? { database } : {}) });
if (process.env.PRAGMA) {
  const { sql } = await import('kysely');
  for (const p of process.env.PRAGMA.split(';'))
    console.log(p, (await sql.raw(`pragma ${p}`).execute(srv.services.db)).rows);
}
const call = async (method, p, body, token) => {
  const r = await fetch(srv.url + p, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return r.json();
};
const op = await createOperator(srv.services.db, 'x');
const email = `o${Date.now()}@x.example`;
const su = await call('POST', '/v1/signup', {
  company_name: 'X',
  contact_name: 'X',
  contact_email: email,
  owner_password: 'password-123456',
});
const tenantId = su.tenant.id;
if (su.tenant.status !== 'active')
  await call('POST', `/v1/admin/tenants/${tenantId}/approve`, {}, op.token);
const login = await call('POST', '/v1/auth/login', { email, password: 'password-123456' });
const inst = await call('POST', '/v1/instances', { name: 'b', platforms: ['qq'] }, login.token);
const instanceId = inst.id;
let seq = 0;
const ev = () => {
  const u = Math.floor(Math.random() * 1000);
  const now = new Date().toISOString();
  seq++;
  return {
    id: `e-${seq}`,
    type: 'message.inbound',
    occurred_at: now,
    data: {
      platform: 'qq',
      platform_user_id: `u${u}`,
      nickname: `n${u}`,
      platform_message_id: `pm${seq}`,
      session_id: `s:${u}`,
      kind: 'text',
      text: `hello there number ${seq} 你好 refund order ${u}`,
      sent_at: now,
    },
  };
};
for (let i = 0; i < Number(process.env.WARMUP ?? 20); i++)
  await ingestBatch(
    srv.services,
    tenantId,
    instanceId,
    parseBatch(Array.from({ length: 500 }, ev)),
  );
for (const size of sizes) {
  const batches = Array.from({ length: rounds }, () =>
    parseBatch(Array.from({ length: size }, ev)),
  );
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const b of batches) await ingestBatch(srv.services, tenantId, instanceId, b);
  const c = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  const n = size * rounds;
  console.log(
    `batch ${size}: cpu ${((c.user + c.system) / n).toFixed(1)} µs/event (user ${(c.user / n).toFixed(1)}, sys ${(c.system / n).toFixed(1)}), wall ${((ms * 1000) / n).toFixed(1)} µs/event`,
  );
}
if (database) {
  const { sql } = await import('kysely');
  await sql.raw(`drop schema ${pgSchema} cascade`).execute(srv.services.db);
}
await srv.close();
fs.rmSync(dir, { recursive: true, force: true });

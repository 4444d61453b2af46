#!/usr/bin/env node
// The server under test, in its own process (so the load generator does not share its event
// loop). Started by bench/search/run.mjs and bench/ingest/run.mjs with an IPC channel.
//
// Env: BENCH_SERVER_ENTRY (the private build), BENCH_DB (sqlite|postgres), BENCH_DATA_DIR,
//      BENCH_SQLITE_FILE, BENCH_PG_URL, BENCH_PG_SCHEMA, BENCH_MASTER_KEY, LOG_LEVEL.
import { pathToFileURL } from 'node:url';

const env = process.env;
const { startServer, loadConfig, openDatabase } = await import(
  pathToFileURL(env.BENCH_SERVER_ENTRY).href
);

const config = loadConfig({
  PORT: '0',
  HOST: '127.0.0.1',
  DATA_DIR: env.BENCH_DATA_DIR,
  DATABASE_URL: env.BENCH_DB === 'postgres' ? env.BENCH_PG_URL : `sqlite:${env.BENCH_SQLITE_FILE}`,
  LOG_LEVEL: env.LOG_LEVEL || 'silent',
  ASTRDESK_MASTER_KEY: env.BENCH_MASTER_KEY,
  API_KEY_RATE_LIMIT_PER_MINUTE: '10000000',
  LOGIN_ATTEMPTS_PER_MINUTE: '100000',
});
const database =
  env.BENCH_DB === 'postgres'
    ? openDatabase({
        kind: 'postgres',
        url: env.BENCH_PG_URL,
        schema: env.BENCH_PG_SCHEMA,
        poolSize: 10,
      })
    : undefined;
const srv = await startServer({ config, ...(database ? { database } : {}) });

let closing = false;
const shutdown = async () => {
  if (closing) return;
  closing = true;
  await srv.close().catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('disconnect', shutdown);
process.on('message', async (m) => {
  if (m?.type === 'operator') {
    const { createOperator } = await import(pathToFileURL(env.BENCH_SERVER_ENTRY).href);
    const op = await createOperator(srv.services.db, 'bench');
    process.send({ type: 'operator', token: op.token });
  }
});
process.send({ type: 'ready', url: srv.url, pid: process.pid });

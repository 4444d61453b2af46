#!/usr/bin/env node
// Runs the server suite on SQLite, then again on PostgreSQL when DATABASE_URL is set.
// Each run uses fresh databases (a temp SQLite file or a new schema per test file).
import { spawnSync } from 'node:child_process';

const extra = process.argv.slice(2);
const runs = [{ name: 'sqlite', env: { ASTRDESK_TEST_DB: 'sqlite' } }];
if (process.env.DATABASE_URL?.startsWith('postgres')) {
  runs.push({ name: 'postgres', env: { ASTRDESK_TEST_DB: 'postgres' } });
} else {
  console.log('[server tests] DATABASE_URL not set to postgres://...: PostgreSQL pass skipped');
}

let failed = false;
for (const run of runs) {
  console.log(`\n[server tests] database: ${run.name}`);
  const r = spawnSync('npx', ['vitest', 'run', ...extra], {
    stdio: 'inherit',
    env: { ...process.env, ...run.env },
  });
  if (r.status !== 0) {
    console.error(`[server tests] ${run.name} pass failed (exit ${r.status})`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);

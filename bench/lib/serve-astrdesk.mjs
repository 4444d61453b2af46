#!/usr/bin/env node
// Starts the AstrDesk server on SQLite in a temp DATA_DIR, creates a tenant through the public
// HTTP flow (signup → operator approve → owner login → API key), and hands the URL, the API
// key secret and the member session token to the parent (IPC) or prints them on stdout.
//
// Env: LOG_LEVEL (default silent), ASTRDESK_SERVER_ENTRY (see below). Access logs go to this process's stdout; the bench points
// stdout at /dev/null for the LOG_LEVEL=info variant.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createApiKey, setupTenant } from './api.mjs';
import { onShutdown, sendHandshake } from './handshake.mjs';

// ASTRDESK_SERVER_ENTRY: a built server module to load instead of the workspace package
// (`http.mjs --fresh-build` points it at bench/.server-build/dist/index.js).
const entry = process.env.ASTRDESK_SERVER_ENTRY;
const { createOperator, loadConfig, startServer } = await import(
  entry ? pathToFileURL(path.resolve(entry)).href : '@astrdesk/server'
);

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-bench-'));
const srv = await startServer({
  config: loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.LOG_LEVEL || 'silent',
    ASTRDESK_MASTER_KEY: crypto.randomBytes(32).toString('base64'),
    // The schema caps this at 10_000_000/min; the bench stays far below it (≈ 1–2 M/min).
    API_KEY_RATE_LIMIT_PER_MINUTE: '10000000',
  }),
});

onShutdown(async () => {
  await srv.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

try {
  const operator = await createOperator(srv.services.db, 'bench');
  const { tenantId, sessionToken } = await setupTenant(srv.url, operator.token, {
    email: 'owner@bench.example',
  });
  const apiKey = await createApiKey(srv.url, sessionToken, 'bench', ['tenant:read']);
  sendHandshake({
    server: 'astrdesk',
    url: srv.url,
    tenantId,
    apiKey,
    sessionToken,
    pid: process.pid,
    logLevel: process.env.LOG_LEVEL || 'silent',
  });
} catch (err) {
  console.error('serve-astrdesk: setup failed:', err);
  await srv.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
}

#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, ENV_DOCS, loadConfig } from './config.js';
import { startSidecar } from './index.js';
import { DataDirInUseError } from './infra/sqlite.js';
import { VERSION } from './version.js';

const HELP = `astrdesk-sidecar ${VERSION} — the AstrDesk sidecar beside an AstrBot pod

It keeps the tenant's blacklist in memory (backed by SQLite) and answers the AstrBot plugin's
intercept calls from it, even while the AstrDesk server is unreachable; it writes every message
to a durable outbox and delivers it to the server; it follows blacklist changes over a
WebSocket control channel it opens to the server.

Usage:
  astrdesk-sidecar [serve]        load the cache, serve HTTP, connect to the server (default)
  astrdesk-sidecar --help | --version

Environment:
${Object.entries(ENV_DOCS)
  .map(([k, v]) => `  ${k.padEnd(30)} ${v}`)
  .join('\n')}

HTTP (SIDECAR_HOST:SIDECAR_PORT):
  GET  /livez, /readyz, /metrics           probes and Prometheus metrics (no token)
  GET  /astrbot-api/v1/health              cache, sync, connection and outbox state (no token)
  POST /astrbot-api/v1/messages/intercept  {platform, user_id, session, ...} -> {action: pass|block}
  POST /astrbot-api/v1/messages/outbound   a reply AstrBot sent by itself
  GET  /astrbot-api/v1/outbox/dead-letters, POST .../dead-letters/requeue
  (/astrbot-api/v1/* except health need "Authorization: Bearer <SIDECAR_API_TOKEN>")
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [cmd = 'serve'] = positionals;
  if (cmd !== 'serve') {
    process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }
  const config = loadConfig();
  const sidecar = await startSidecar(config);
  const { log } = sidecar;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    sidecar.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => {});
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n\nRun astrdesk-sidecar --help for every variable.\n`);
      process.exit(78);
    }
    if (err instanceof DataDirInUseError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(75);
    }
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

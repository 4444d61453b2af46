#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { VERSION } from './app.js';
import { ConfigError, ENV_DOCS, loadConfig } from './config.js';
import { openDatabase } from './infra/db/index.js';
import { createOperator, revokeOperator } from './operators/index.js';
import { startServer } from './server.js';

const HELP = `astrdesk-server ${VERSION} — the AstrDesk SaaS server

Usage:
  astrdesk-server [serve]                 run migrations and serve HTTP (default)
  astrdesk-server migrate                 apply pending database migrations and exit
  astrdesk-server operator create [--name NAME]
                                          create a platform operator; prints its token once
  astrdesk-server operator revoke ID      revoke an operator
  astrdesk-server --help | --version

Environment:
${Object.entries(ENV_DOCS)
  .map(([k, v]) => `  ${k.padEnd(30)} ${v}`)
  .join('\n')}

Docs: GET /docs (API reference), GET /openapi.json, GET /healthz, GET /readyz.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      name: { type: 'string' },
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
  const [cmd = 'serve', sub, arg] = positionals;
  const config = loadConfig();

  if (cmd === 'migrate') {
    const db = openDatabase(config.database);
    const applied = await db.migrate();
    await db.close();
    process.stdout.write(
      applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n',
    );
    return 0;
  }
  if (cmd === 'operator') {
    const db = openDatabase(config.database);
    try {
      await db.migrate();
      if (sub === 'create') {
        const op = await createOperator(db.db, values.name ?? 'operator');
        process.stdout.write(
          `Operator ${op.id} (${op.name}) created. Its token — shown this once, keep it secret:\n\n  ${op.token}\n\nUse it as "Authorization: Bearer <token>" on /v1/admin/*.\n`,
        );
        return 0;
      }
      if (sub === 'revoke' && arg) {
        const ok = await revokeOperator(db.db, arg);
        process.stdout.write(ok ? `revoked ${arg}\n` : `no active operator ${arg}\n`);
        return ok ? 0 : 1;
      }
      process.stderr.write(
        'usage: astrdesk-server operator create [--name NAME] | operator revoke ID\n',
      );
      return 2;
    } finally {
      await db.close();
    }
  }
  if (cmd !== 'serve') {
    process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }

  const server = await startServer({ config });
  const { log } = server.services;
  log.info(
    {
      url: server.url,
      database: config.database.kind,
      redis: Boolean(config.REDIS_URL),
      version: VERSION,
    },
    `AstrDesk server listening on ${server.url}`,
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().then(
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
      process.stderr.write(`${err.message}\n\nRun astrdesk-server --help for every variable.\n`);
      process.exit(78);
    }
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

#!/usr/bin/env node
// `npm start`: build, then run the demo — the server on SQLite in ./.astrdesk-data with a
// demo operator — and print what to do next. Later issues add the sidecar and the widget page.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dataDir = path.resolve(root, process.env.DATA_DIR ?? '.astrdesk-data');
const port = process.env.PORT ?? '8080';
const cli = path.join(root, 'packages/server/dist/cli.js');
const env = {
  ...process.env,
  DATA_DIR: dataDir,
  PORT: port,
  HOST: process.env.HOST ?? '127.0.0.1',
};

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env, ...opts });
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
  return r;
}

console.log('▸ building packages…');
run('npx', ['turbo', 'run', 'build', '--output-logs=errors-only']);

fs.mkdirSync(dataDir, { recursive: true });
const tokenFile = path.join(dataDir, 'demo-operator-token');
if (!fs.existsSync(tokenFile)) {
  const r = run(process.execPath, [cli, 'operator', 'create', '--name', 'demo'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const token = /(ado_[A-Za-z0-9_-]+)/.exec(r.stdout)?.[1];
  if (!token) {
    console.error('✗ could not create the demo operator');
    process.exit(1);
  }
  fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
}
const operatorToken = fs.readFileSync(tokenFile, 'utf8').trim();
const base = `http://127.0.0.1:${port}`;

const server = spawn(process.execPath, [cli, 'serve'], {
  cwd: root,
  env,
  stdio: ['ignore', 'inherit', 'inherit'],
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.kill(sig));
server.on('exit', (code) => process.exit(code ?? 0));

for (let i = 0; i < 100; i++) {
  try {
    if ((await fetch(`${base}/readyz`)).ok) break;
  } catch {
    /* not up yet */
  }
  await new Promise((r) => setTimeout(r, 100));
}

console.log(`
────────────────────────────────────────────────────────────────────────
 AstrDesk is running: ${base}
   API reference   ${base}/docs          OpenAPI  ${base}/openapi.json
   Data            ${dataDir} (SQLite)
   Operator token  ${operatorToken}
                   (saved in ${path.relative(root, tokenFile)}; for /v1/admin/*)

 Next steps:
   1. Register a company:
      curl -s ${base}/v1/signup -H 'content-type: application/json' \\
        -d '{"company_name":"Acme","contact_name":"Li Lei","contact_email":"lilei@acme.example","owner_password":"correct-horse-battery"}'
   2. Approve it (use the tenant id from step 1):
      curl -s -X POST ${base}/v1/admin/tenants/TENANT_ID/approve -H 'authorization: Bearer ${operatorToken}'
   3. Log in and create an API key for your CRM:
      curl -s ${base}/v1/auth/login -H 'content-type: application/json' \\
        -d '{"email":"lilei@acme.example","password":"correct-horse-battery"}'
      curl -s ${base}/v1/api-keys -H 'authorization: Bearer SESSION_TOKEN' -H 'content-type: application/json' \\
        -d '{"name":"CRM","scopes":["tenant:read","members:read"]}'
 Ctrl-C stops the server.
────────────────────────────────────────────────────────────────────────
`);

#!/usr/bin/env node
// `npm start`: build, then run the demo — the server on SQLite in ./.astrdesk-data with a
// demo operator, a demo tenant with an AstrBot instance, and a sidecar beside it — and print
// what to do next. The widget page comes with issue 06.
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

// A demo tenant with one AstrBot instance, and a sidecar beside it (as in a real pod).
const demoFile = path.join(dataDir, 'demo.json');
const api = async (method, p, token, body) => {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${JSON.stringify(json)}`);
  return json;
};
let demo;
if (fs.existsSync(demoFile)) {
  demo = JSON.parse(fs.readFileSync(demoFile, 'utf8'));
} else {
  const email = 'owner@demo.example';
  const password = 'demo-password-123';
  const signup = await api('POST', '/v1/signup', undefined, {
    company_name: 'Demo Shop',
    contact_name: 'Demo Owner',
    contact_email: email,
    owner_password: password,
  });
  if (signup.tenant.status !== 'active')
    await api('POST', `/v1/admin/tenants/${signup.tenant.id}/approve`, operatorToken, {
      reason: 'demo',
    });
  const session = await api('POST', '/v1/auth/login', undefined, { email, password });
  const instance = await api('POST', '/v1/instances', session.token, {
    name: 'demo-astrbot',
    platforms: ['qq', 'webchat'],
  });
  await api('POST', '/v1/blacklist', session.token, {
    platform: 'qq',
    platform_user_id: 'spammer-1',
    reason: 'demo: known spammer',
  });
  demo = {
    email,
    password,
    tenant_id: signup.tenant.id,
    instance_token: instance.token,
    sidecar_token: `demo-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`,
  };
  fs.writeFileSync(demoFile, `${JSON.stringify(demo, null, 2)}\n`, { mode: 0o600 });
}
const sidecarPort = process.env.SIDECAR_PORT ?? '6190';
const sidecar = spawn(process.execPath, [path.join(root, 'packages/sidecar/dist/cli.js')], {
  cwd: root,
  env: {
    ...process.env,
    ASTRDESK_SERVER_URL: base,
    ASTRDESK_INSTANCE_TOKEN: demo.instance_token,
    SIDECAR_API_TOKEN: demo.sidecar_token,
    SIDECAR_PORT: sidecarPort,
    SIDECAR_DATA_DIR: path.join(dataDir, 'sidecar'),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => sidecar.kill(sig));
const sidecarUrl = `http://127.0.0.1:${sidecarPort}`;
for (let i = 0; i < 100; i++) {
  try {
    if ((await fetch(`${sidecarUrl}/readyz`)).ok) break;
  } catch {
    /* not up yet */
  }
  await new Promise((r) => setTimeout(r, 100));
}

console.log(`
────────────────────────────────────────────────────────────────────────
 AstrDesk is running
   Server          ${base}   (API reference ${base}/docs, OpenAPI ${base}/openapi.json)
   Sidecar         ${sidecarUrl}   (health ${sidecarUrl}/astrbot-api/v1/health)
   Data            ${dataDir} (SQLite)

 Demo tenant "Demo Shop": ${demo.email} / ${demo.password}
   Operator token  ${operatorToken}
   Sidecar token   ${demo.sidecar_token}   (what the AstrBot plugin is configured with)
   Credentials are in ${path.relative(root, demoFile)} and ${path.relative(root, tokenFile)}.

 Try it:
   # a message from a blacklisted user is blocked by the sidecar
   curl -s ${sidecarUrl}/astrbot-api/v1/messages/intercept -H 'authorization: Bearer ${demo.sidecar_token}' \\
     -H 'content-type: application/json' -d '{"platform":"qq","platform_instance_id":"demo","user_id":"spammer-1","session":"aiocqhttp:FriendMessage:spammer-1","message_id":"m1","kind":"text","text":"buy now","sent_at":"${new Date().toISOString()}"}'
   # anyone else passes, and the message shows up as a conversation on the server
   curl -s ${sidecarUrl}/astrbot-api/v1/messages/intercept -H 'authorization: Bearer ${demo.sidecar_token}' \\
     -H 'content-type: application/json' -d '{"platform":"qq","platform_instance_id":"demo","user_id":"10001","session":"aiocqhttp:FriendMessage:10001","message_id":"m2","kind":"text","text":"我想申请退款","sent_at":"${new Date().toISOString()}"}'
   TOKEN=$(curl -s ${base}/v1/auth/login -H 'content-type: application/json' -d '{"email":"${demo.email}","password":"${demo.password}"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
   curl -s "${base}/v1/conversations" -H "authorization: Bearer $TOKEN"
   curl -s "${base}/v1/messages/search?q=退款" -H "authorization: Bearer $TOKEN"
 The AstrBot plugin (packages/sidecar/astrbot_plugin) connects a real AstrBot to this sidecar.
 Ctrl-C stops everything.
────────────────────────────────────────────────────────────────────────
`);

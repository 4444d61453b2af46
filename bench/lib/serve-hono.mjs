#!/usr/bin/env node
// Reference point between bare node:http and AstrDesk: a minimal Hono app on @hono/node-server
// (the same packages and versions the AstrDesk server runs on) whose one route answers
// `c.json(body)` — the framework's own cost with no middleware, auth or database.
//
// Env: HONO_BODY (the JSON body to answer); HONO_MIDDLEWARE, a comma list of `body-limit`,
//      `cors`: hono's middleware of that name on '*' as packages/server/src/app.ts mounts it
//      (to price each one).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onShutdown, sendHandshake } from './handshake.mjs';

// hono is a dependency of @astrdesk/server, hoisted to the root node_modules; import it from
// there and check it is the very copy the server resolves.
const { Hono } = await import('hono');
const { serve } = await import('@hono/node-server');
const { bodyLimit } = await import('hono/body-limit');
const { cors } = await import('hono/cors');
const serverRequire = createRequire(fileURLToPath(import.meta.resolve('@astrdesk/server')));
const pkgRoot = (file) =>
  file.slice(0, file.lastIndexOf(`${path.sep}node_modules${path.sep}hono${path.sep}`) + 19);
const ours = pkgRoot(fileURLToPath(import.meta.resolve('hono')));
const theirs = pkgRoot(serverRequire.resolve('hono'));
if (ours !== theirs)
  console.error(`serve-hono: warning: bench uses ${ours}, the server uses ${theirs}`);

const body = JSON.parse(process.env.HONO_BODY || '{"ok":true}');
const app = new Hono();
// The global middleware packages/server/src/app.ts mounts, one at a time, to price each.
const middleware = (process.env.HONO_MIDDLEWARE ?? '').split(',').filter(Boolean);
for (const m of middleware) {
  if (m === 'body-limit') app.use('*', bodyLimit({ maxSize: 1024 * 1024 }));
  else if (m === 'cors')
    app.use('*', cors({ origin: '*', exposeHeaders: ['x-request-id'], maxAge: 600 }));
  else throw new Error(`serve-hono: unknown middleware ${m}`);
}
app.get('*', (c) => c.json(body));

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  sendHandshake({
    server: 'hono',
    url: `http://127.0.0.1:${info.port}`,
    middleware,
    pid: process.pid,
  });
});

onShutdown(
  () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections?.();
    }),
);

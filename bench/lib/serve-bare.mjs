#!/usr/bin/env node
// A bare node:http server answering every request with one fixed body — the ceiling the
// AstrDesk numbers are compared against.
//
// Env: BARE_BODY_FILE (path of the body to send; default a small JSON object),
//      BARE_CONTENT_TYPE (default application/json).
import fs from 'node:fs';
import http from 'node:http';
import { onShutdown, sendHandshake } from './handshake.mjs';

const body = process.env.BARE_BODY_FILE
  ? fs.readFileSync(process.env.BARE_BODY_FILE)
  : Buffer.from('{"ok":true}');
const contentType = process.env.BARE_CONTENT_TYPE || 'application/json';
const headers = { 'content-type': contentType, 'content-length': String(body.length) };

const server = http.createServer((req, res) => {
  // Drain any request body, then answer.
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  sendHandshake({
    server: 'bare',
    url: `http://127.0.0.1:${port}`,
    bytes: body.length,
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

import type { Server } from 'node:http';
import type { Services } from '../infra/services.js';

/** Attaches `GET /v1/realtime` (WebSocket) to the HTTP server (being built). */
export function attachRealtime(_server: Server, _s: Services): { close(): Promise<void> } {
  return { async close() {} };
}

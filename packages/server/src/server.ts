import { type ServerType, serve } from '@hono/node-server';
import { type CreateServicesOptions, closeServices, createApp, createServices } from './app.js';
import { startBlacklistJobs } from './blacklist/jobs.js';
import { startConversationJobs } from './conversations/index.js';
import { startHousekeeping } from './housekeeping/index.js';
import type { Services } from './infra/services.js';
import { attachRealtime } from './realtime/index.js';
import { attachSidecarChannel } from './sidecar-channel/index.js';

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  server: ServerType;
  /** The realtime hub: connection counts, stats. */
  realtime: ReturnType<typeof attachRealtime>;
  /** Stops accepting, waits for in-flight requests (up to SHUTDOWN_TIMEOUT_MS), closes resources. */
  close(): Promise<void>;
}

/** Creates services and the app and listens on HOST:PORT (PORT 0 picks a free port). */
export async function startServer(opts: CreateServicesOptions): Promise<RunningServer> {
  const services = await createServices(opts);
  const app = createApp(services);
  const { config } = services;
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
  services.background.push(startConversationJobs(services));
  services.background.push(startBlacklistJobs(services));
  services.background.push(startHousekeeping(services));
  const channel = attachSidecarChannel(server as import('node:http').Server, services);
  const realtime = attachRealtime(server as import('node:http').Server, services);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.PORT;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    services,
    server,
    realtime,
    close() {
      closing ??= (async () => {
        await realtime.close();
        await channel.close();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
            resolve();
          }, config.SHUTDOWN_TIMEOUT_MS);
          timer.unref();
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await closeServices(services);
      })();
      return closing;
    },
  };
}

import http from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import pino, { type Logger } from 'pino';
import { createApp } from './app.js';
import { Blacklist } from './blacklist/index.js';
import { ControlChannel } from './channel/index.js';
import { type Config, dataFiles } from './config.js';
import { healthSnapshot, type SidecarHealth } from './health/index.js';
import type { AppEnv } from './infra/http.js';
import { createFastIntercept } from './intercept/fast-path.js';
import { Interceptor, InterceptStats } from './intercept/index.js';
import { Outbox } from './outbox/index.js';
import { VERSION } from './version.js';

export { createApp } from './app.js';
export { Blacklist, type CachedEntry } from './blacklist/index.js';
export { type ChannelEvents, type ChannelState, ControlChannel } from './channel/index.js';
export { type Config, ConfigError, ConfigSchema, ENV_DOCS, loadConfig } from './config.js';
export type { SidecarHealth } from './health/index.js';
export { DataDirInUseError } from './infra/sqlite.js';
export { Interceptor, InterceptStats, OutboundRequest } from './intercept/index.js';
export { Outbox, type OutboxRow } from './outbox/index.js';
export { VERSION } from './version.js';

export interface StartSidecarOptions {
  logger?: Logger;
  /** Clock for expiry checks and event times (tests inject one). */
  now?: () => number;
  /**
   * Open the control channel and start the outbox sender (default true). With false the
   * sidecar serves from its cache and queues events; call `channel.start()` / `outbox.start()`.
   */
  connect?: boolean;
  fetch?: typeof fetch;
  /** Random source for reconnect jitter. */
  random?: () => number;
  /** How long to wait for another process to release the data directory (default 5000 ms). */
  lockTimeoutMs?: number;
}

export interface RunningSidecar {
  /** `http://host:port` the sidecar listens on. */
  url: string;
  port: number;
  config: Config;
  version: string;
  app: Hono<AppEnv>;
  log: Logger;
  /** The blacklist: SQLite copy + in-memory index the intercept probes. */
  cache: Blacklist;
  /** The durable outbox and its sender. */
  outbox: Outbox;
  /** The control channel to the server. */
  channel: ControlChannel;
  stats: InterceptStats;
  /** The body `GET /astrbot-api/v1/health` answers. */
  health(): SidecarHealth;
  /** Stops HTTP (waiting for in-flight requests), the channel and the sender; closes SQLite. */
  close(): Promise<void>;
}

/**
 * Starts a sidecar: loads the SQLite blacklist into memory and opens the outbox *before*
 * listening (so it answers at once, with or without the server), then connects the control
 * channel and starts draining the outbox.
 */
export async function startSidecar(
  config: Config,
  opts: StartSidecarOptions = {},
): Promise<RunningSidecar> {
  const log =
    opts.logger ?? pino({ level: config.LOG_LEVEL, base: { service: 'astrdesk-sidecar' } });
  const now = opts.now ?? Date.now;
  const files = dataFiles(config);
  const startedAt = Date.now();

  const lock = opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {};
  const cache = Blacklist.open(files.blacklist, {
    now,
    log: log.child({ component: 'blacklist' }),
    ...lock,
  });
  let outbox: Outbox;
  try {
    outbox = Outbox.open(files.outbox, {
      serverUrl: config.ASTRDESK_SERVER_URL,
      token: config.ASTRDESK_INSTANCE_TOKEN,
      version: VERSION,
      log: log.child({ component: 'outbox' }),
      synchronous: config.SIDECAR_OUTBOX_SYNC === 'full' ? 'FULL' : 'NORMAL',
      walFlushMs: config.SIDECAR_OUTBOX_WAL_FLUSH_MS,
      batchSize: config.SIDECAR_OUTBOX_BATCH_SIZE,
      flushMs: config.SIDECAR_OUTBOX_FLUSH_MS,
      minIntervalMs: config.SIDECAR_OUTBOX_MIN_INTERVAL_MS,
      intervalMs: config.SIDECAR_OUTBOX_INTERVAL_MS,
      retryMinMs: config.SIDECAR_OUTBOX_RETRY_MIN_MS,
      retryMaxMs: config.SIDECAR_OUTBOX_RETRY_MAX_MS,
      requestTimeoutMs: config.SIDECAR_REQUEST_TIMEOUT_MS,
      now,
      ...lock,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  } catch (err) {
    cache.close();
    throw err;
  }
  const channel = new ControlChannel({
    serverUrl: config.ASTRDESK_SERVER_URL,
    token: config.ASTRDESK_INSTANCE_TOKEN,
    version: VERSION,
    blacklist: cache,
    log: log.child({ component: 'channel' }),
    reconnectMinMs: config.SIDECAR_RECONNECT_MIN_MS,
    reconnectMaxMs: config.SIDECAR_RECONNECT_MAX_MS,
    unauthorizedRetryMs: config.SIDECAR_UNAUTHORIZED_RETRY_MS,
    heartbeatMs: config.SIDECAR_HEARTBEAT_MS,
    resyncTimeoutMs: config.SIDECAR_RESYNC_TIMEOUT_MS,
    ...(opts.random ? { random: opts.random } : {}),
  });
  // The server is reachable again: send what piled up now rather than after the backoff.
  channel.on('connected', () => outbox.kick({ urgent: true }));

  const stats = new InterceptStats();
  const interceptor = new Interceptor({ blacklist: cache, outbox, stats, now });
  const deps = {
    blacklist: cache,
    outbox,
    channel,
    stats,
    interceptor,
    log,
    apiToken: config.SIDECAR_API_TOKEN,
    bodyLimitBytes: config.SIDECAR_BODY_LIMIT_BYTES,
    version: VERSION,
    startedAt,
    now,
  };
  const app = createApp(deps);

  // The intercept is answered straight on node:http (the hot path); everything else by Hono.
  const fast = createFastIntercept({
    interceptor,
    apiToken: config.SIDECAR_API_TOKEN,
    bodyLimitBytes: config.SIDECAR_BODY_LIMIT_BYTES,
    log,
  });
  const honoListener = getRequestListener(app.fetch);
  const server = http.createServer((req, res) => {
    if (!fast(req, res)) void honoListener(req, res);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.SIDECAR_PORT, config.SIDECAR_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await outbox.close();
    cache.close();
    throw err;
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.SIDECAR_PORT;
  const host =
    config.SIDECAR_HOST === '0.0.0.0' || config.SIDECAR_HOST === '::'
      ? '127.0.0.1'
      : config.SIDECAR_HOST.includes(':')
        ? `[${config.SIDECAR_HOST}]`
        : config.SIDECAR_HOST;
  const url = `http://${host}:${port}`;

  log.info(
    {
      url,
      version: VERSION,
      entries: cache.size,
      revision: cache.revision,
      outbox_depth: outbox.depth,
      dead_letters: outbox.deadLetters,
      server: config.ASTRDESK_SERVER_URL,
    },
    `AstrDesk sidecar listening on ${url}`,
  );
  if (opts.connect !== false) {
    channel.start();
    outbox.start();
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    config,
    version: VERSION,
    app,
    log,
    cache,
    outbox,
    channel,
    stats,
    health: () => healthSnapshot(deps),
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.closeAllConnections();
            resolve();
          }, config.SIDECAR_SHUTDOWN_TIMEOUT_MS);
          timer.unref();
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
          server.closeIdleConnections();
        });
        await channel.close();
        await outbox.close();
        cache.close();
      })();
      return closing;
    },
  };
}

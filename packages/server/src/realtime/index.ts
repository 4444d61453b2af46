/**
 * `GET /v1/realtime`: a tenant's event log over WebSocket.
 *
 * - Authenticated before the upgrade completes (member session or API key with
 *   `conversations:read`, as `Authorization: Bearer` or, for browsers, `?token=`); a refusal is
 *   an ordinary HTTP answer with the error envelope.
 * - Frames: `ready` first, then `{type:'event', event:{seq,id,type,data,created_at}}` in seq
 *   order, gap-free, each once; `?last_seq=N` replays what was missed from the log, or answers
 *   `resync_required` when that is too far back (then streams on from the head).
 * - Heartbeats (ws ping; client `{type:'ping'}` → `{type:'pong'}`), a bounded send buffer per
 *   socket (4008 slow consumer), malformed client frames close 1008, revoked credentials 4001.
 * - With `REDIS_URL` the event bus is Redis pub/sub, so sockets on every replica hear events
 *   written on any of them; seq-gap filling from the log makes cross-replica reordering safe.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { requestIdFrom } from '../infra/http/context.js';
import { ApiError, toApiError } from '../infra/http/errors.js';
import { refuseUpgrade } from '../infra/http/upgrade.js';
import type { Services } from '../infra/services.js';
import { authenticate, credentialOf, type Viewer } from './auth.js';
import { Hub, type RealtimeStats } from './hub.js';
import { type RealtimeOptions, resolveOptions } from './options.js';
import type { ConnectionListener } from './presence.js';

export type { Viewer, ViewerKind } from './auth.js';
export type { RealtimeStats } from './hub.js';
export type { RealtimeOptions } from './options.js';
export type { ConnectionChange, ConnectionListener } from './presence.js';

export interface Realtime {
  /** Stops accepting upgrades, closes every socket with 1001, stops timers, unsubscribes. */
  close(): Promise<void>;
  /**
   * Hears every socket open and close on this process; for member sockets it carries the
   * member's connection count across replicas (`agent_presence.connections`), written before
   * the listener runs. Returns the unsubscribe function.
   */
  onConnectionChange(listener: ConnectionListener): () => void;
  stats(): RealtimeStats;
  /** Re-checks open sockets' credentials now instead of at the next interval. */
  revalidate(): Promise<void>;
}

const LAST_SEQ = /^\d{1,15}$/;

function parseLastSeq(url: URL): number | undefined {
  const raw = url.searchParams.get('last_seq');
  if (raw === null || raw === '') return undefined;
  if (!LAST_SEQ.test(raw)) {
    throw new ApiError('validation_failed', 'last_seq must be a non-negative integer', {
      param: 'last_seq',
    });
  }
  return Number(raw);
}

/**
 * Attaches `GET /v1/realtime` to the HTTP server. Other upgrade paths answer 404, unless
 * another `upgrade` listener is attached to the server (which then owns them).
 */
export function attachRealtime(
  server: Server,
  s: Services,
  options: RealtimeOptions = {},
): Realtime {
  const opts = resolveOptions(s.config, options);
  const log = s.log.child({ component: 'realtime' });
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: opts.maxClientFrameBytes,
  });
  const hub = new Hub(s, opts, log);
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const started = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      /* answered below */
    }
    // Another upgrade listener (e.g. a sidecar channel) owns the paths that are not ours.
    if (url && url.pathname !== opts.path && server.listenerCount('upgrade') > 1) return;
    // An abrupt disconnect while we authenticate must not become an unhandled 'error'.
    socket.on('error', () => {});
    // One line per upgrade, shaped like the HTTP access log (never the URL: it may hold a token).
    const access = (status: number, viewer?: Viewer) =>
      log.info(
        {
          request_id: requestId,
          tenant_id: viewer?.tenantId ?? null,
          principal: viewer ? `${viewer.kind}:${viewer.id}` : null,
          method: req.method ?? 'GET',
          route: opts.path,
          status,
          ms: Math.round((performance.now() - started) * 100) / 100,
        },
        'request',
      );
    if (!url || url.pathname !== opts.path) {
      const err = url
        ? new ApiError('route_not_found', `No WebSocket endpoint at ${url.pathname}`)
        : new ApiError('validation_failed', 'Malformed request URL');
      access(err.status);
      refuseUpgrade(socket, err, requestId);
      return;
    }
    const target = url;
    void (async () => {
      try {
        if (closing) throw new ApiError('service_unavailable', 'The server is shutting down');
        const lastSeq = parseLastSeq(target);
        const viewer = await authenticate(s, credentialOf(req.headers.authorization, target));
        if (closing) throw new ApiError('service_unavailable', 'The server is shutting down');
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => {
          if (closing) {
            ws.close(1001, 'server shutting down');
            return;
          }
          hub.accept(ws, viewer, lastSeq);
          access(101, viewer);
        });
      } catch (err) {
        const e = toApiError(err);
        if (e.status >= 500 && !(err instanceof ApiError)) {
          log.error(
            { err: (err as Error)?.message, request_id: requestId },
            'realtime upgrade failed',
          );
        }
        access(e.status);
        refuseUpgrade(socket, e, requestId);
      }
    })();
  };
  server.on('upgrade', onUpgrade);

  let closed: Promise<void> | undefined;
  return {
    close() {
      closed ??= (async () => {
        closing = true;
        server.off('upgrade', onUpgrade);
        await hub.close();
        await new Promise<void>((r) => wss.close(() => r()));
      })();
      return closed;
    },
    onConnectionChange: (listener) => hub.presence.onChange(listener),
    stats: () => hub.stats(),
    revalidate: () => hub.revalidateNow(),
  };
}

import { REALTIME_CLOSE_CODES } from '@astrdesk/protocol';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { type LoggedEvent, toEnvelope } from '../infra/events/index.js';
import type { Services } from '../infra/services.js';
import { stillValid, type Viewer } from './auth.js';
import { Connection, type ConnectionEnv } from './connection.js';
import type { ResolvedOptions } from './options.js';
import { PresenceTracker } from './presence.js';

/** Counters of this process's realtime endpoint. */
export interface RealtimeStats {
  /** Open sockets. */
  sockets: number;
  /** Tenants with at least one open socket. */
  tenants: number;
  /** Sockets closed 4008 since start. */
  slowConsumerCloses: number;
  /** Sockets closed 1008 (malformed frames) since start. */
  policyViolationCloses: number;
  /** Sockets closed 4001 (credential revoked/expired, tenant not active) since start. */
  unauthorizedCloses: number;
  /** Sockets terminated for missing pongs since start. */
  heartbeatTimeouts: number;
  /** Sockets closed 1011 after an internal error since start. */
  internalErrorCloses: number;
}

const sleep = (ms: number) =>
  new Promise<void>((r) => {
    setTimeout(r, ms).unref();
  });

/**
 * The sockets of this process, indexed by tenant, fed from the event bus. One bus
 * subscription for the whole process; an event is serialised once and handed to the sockets
 * of its own tenant only.
 */
export class Hub {
  readonly presence: PresenceTracker;
  readonly #tenants = new Map<string, Set<Connection>>();
  readonly #frames = new WeakMap<LoggedEvent, Buffer>();
  readonly #env: ConnectionEnv;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #unsubscribe: () => void;
  #sockets = 0;
  #revalidating = false;
  readonly #counters = {
    slowConsumer: 0,
    policyViolation: 0,
    unauthorized: 0,
    heartbeatTimeout: 0,
    internalError: 0,
  };

  constructor(
    private readonly s: Services,
    private readonly opts: ResolvedOptions,
    private readonly log: Logger,
  ) {
    this.presence = new PresenceTracker(s, log);
    this.#env = {
      events: s.events,
      opts,
      log,
      frameOf: (e) => this.#frameOf(e),
      count: (what) => {
        this.#counters[what]++;
      },
    };
    this.#unsubscribe = s.events.bus.subscribe((e) => this.#dispatch(e));
    this.#timers.push(setInterval(() => this.#heartbeat(), opts.heartbeatIntervalMs).unref());
    this.#timers.push(
      setInterval(() => void this.#revalidate(), opts.revalidateIntervalMs).unref(),
    );
  }

  #frameOf(e: LoggedEvent): Buffer {
    let f = this.#frames.get(e);
    if (!f) {
      f = Buffer.from(JSON.stringify({ type: 'event', event: toEnvelope(e) }));
      this.#frames.set(e, f);
    }
    return f;
  }

  #dispatch(e: LoggedEvent) {
    const set = this.#tenants.get(e.tenantId);
    if (!set) return;
    for (const c of set) {
      try {
        c.onLive(e);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'realtime dispatch failed');
      }
    }
  }

  /** Takes over an upgraded socket: registers it (before reading the log head), then starts it. */
  accept(ws: WebSocket, viewer: Viewer, resumeFrom: number | undefined): Connection {
    const conn = new Connection(ws, viewer, this.#env);
    let set = this.#tenants.get(viewer.tenantId);
    if (!set) {
      set = new Set();
      this.#tenants.set(viewer.tenantId, set);
    }
    set.add(conn);
    this.#sockets++;
    this.presence.connected(viewer);
    ws.on('message', (data, isBinary) => conn.onMessage(data, isBinary));
    ws.on('pong', () => {
      conn.missedPongs = 0;
    });
    // ws closes the socket itself after a protocol error (1002/1007/1009); just keep it quiet.
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'realtime socket error'));
    ws.once('close', (code) => {
      conn.onClosed(code);
      const s = this.#tenants.get(viewer.tenantId);
      if (s?.delete(conn)) {
        this.#sockets--;
        if (s.size === 0) this.#tenants.delete(viewer.tenantId);
      }
      this.presence.disconnected(viewer, code);
    });
    void conn.start(resumeFrom);
    return conn;
  }

  #all(): Connection[] {
    const out: Connection[] = [];
    for (const set of this.#tenants.values()) for (const c of set) out.push(c);
    return out;
  }

  #heartbeat() {
    const members = new Set<string>();
    for (const c of this.#all()) {
      if (c.heartbeat() === 'dead') this.#counters.heartbeatTimeout++;
      else if (c.viewer.memberId !== undefined) members.add(c.viewer.memberId);
    }
    this.presence.heartbeat(members);
  }

  /** Closes sockets whose credential stopped working (4001); refreshes what the rest may see. */
  async #revalidate(): Promise<void> {
    if (this.#revalidating) return;
    this.#revalidating = true;
    try {
      const conns = this.#all().filter((c) => !c.isClosing);
      if (conns.length === 0) return;
      const valid = await stillValid(
        this.s,
        conns.map((c) => c.viewer),
      );
      for (const c of conns) {
        const v = valid.get(c.viewer.credentialId);
        if (v) {
          c.viewer.canSeeAdmin = v.canSeeAdmin;
        } else if (!c.isClosing) {
          this.#counters.unauthorized++;
          c.close(REALTIME_CLOSE_CODES.unauthorized, 'credential no longer valid');
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'realtime revalidation failed');
    } finally {
      this.#revalidating = false;
    }
  }

  /** Runs the credential re-check now (tests). */
  revalidateNow(): Promise<void> {
    return this.#revalidate();
  }

  stats(): RealtimeStats {
    return {
      sockets: this.#sockets,
      tenants: this.#tenants.size,
      slowConsumerCloses: this.#counters.slowConsumer,
      policyViolationCloses: this.#counters.policyViolation,
      unauthorizedCloses: this.#counters.unauthorized,
      heartbeatTimeouts: this.#counters.heartbeatTimeout,
      internalErrorCloses: this.#counters.internalError,
    };
  }

  /** Unsubscribes, stops timers, closes every socket 1001 (cut after the grace period). */
  async close(): Promise<void> {
    this.#unsubscribe();
    for (const t of this.#timers.splice(0)) clearInterval(t);
    const conns = this.#all();
    for (const c of conns) c.close(REALTIME_CLOSE_CODES.serverShutdown, 'server shutting down');
    const all = Promise.all(conns.map((c) => c.closed));
    await Promise.race([all, sleep(this.opts.closeGraceMs)]);
    for (const c of conns) c.terminate();
    await all;
    await this.presence.idle();
  }
}

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import {
  CONTROL_CLOSE_CODES,
  CONTROL_PROTOCOL_VERSION,
  SERVER_FRAME_TYPES,
  ServerFrame,
  type SidecarFrame,
  unknownControlFrameType,
} from '@astrdesk/protocol';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import type { Blacklist } from '../blacklist/index.js';

export interface ControlChannelOptions {
  /** Base URL of the server (http/https); the channel is `<url>/v1/sidecar/connect`. */
  serverUrl: string;
  /** Instance token, sent as `Authorization: Bearer`. */
  token: string;
  /** Sidecar version, sent in `hello`. */
  version: string;
  blacklist: Blacklist;
  log: Logger;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  unauthorizedRetryMs?: number;
  heartbeatMs?: number;
  resyncTimeoutMs?: number;
  /** Random source for jitter (tests pin it). */
  random?: () => number;
}

export type ChannelState = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

export interface ChannelEvents {
  /** The socket is open and `hello` was sent. */
  connected: [];
  /** The socket closed; a reconnect is scheduled after `retryInMs` unless the channel is closing. */
  disconnected: [{ code: number; reason: string; retryInMs: number | null }];
  welcome: [{ instance_id: string; tenant_id: string; revision: number }];
  /** A snapshot or delta was applied (and acknowledged). */
  synced: [{ kind: 'snapshot' | 'delta'; revision: number; entries: number }];
  /** The sidecar asked the server for a fresh snapshot. */
  resync: [{ reason: string }];
  /** The server sent something outside the protocol; the socket is being closed with 1008. */
  protocol_error: [{ message: string }];
}

/** How long a connection must have lived for the next reconnect to start from the shortest delay. */
const STABLE_MS = 10_000;
/** Deltas held while a snapshot streams in, before the sidecar gives up and resyncs. */
const MAX_QUEUED_DELTAS = 10_000;

type DeltaFrame = Extract<ServerFrame, { type: 'delta' }>;

/**
 * The sidecar's end of the control channel: one WebSocket to `GET /v1/sidecar/connect`,
 * opened by the sidecar with its instance token.
 *
 * On open it says `hello { since: <local revision> }`; the server answers with deltas after
 * that revision or a streamed snapshot. Each applied batch is acknowledged with `ack`. A
 * delta that does not continue from the local revision, or a snapshot whose checksum does
 * not match, makes the sidecar send `resync` and wait for a snapshot. A frame outside the
 * protocol closes the socket with 1008, except a well-formed frame of this protocol version
 * whose type is unknown here (a newer server's), which is skipped. Whenever the socket closes, the channel reconnects
 * with exponential backoff and jitter (slowly after 4001 unauthorized), and the intercept
 * keeps enforcing from the cache meanwhile.
 */
export class ControlChannel extends EventEmitter<ChannelEvents> {
  readonly url: string;
  /** Well-formed frames of a type this sidecar does not know (sent by a newer server), skipped. */
  ignoredFrames = 0;
  readonly #ignoredTypes = new Set<string>();
  #ws: WebSocket | undefined;
  #state: ChannelState = 'idle';
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #alive = false;
  #openedAt = 0;
  #httpStatus: number | undefined;
  #awaitingSnapshot = false;
  /** `since` of this connection's hello. */
  #helloSince = 0;
  #queued: DeltaFrame[] = [];
  #stopping = false;
  readonly #o: Required<Omit<ControlChannelOptions, 'blacklist' | 'log'>>;
  readonly #bl: Blacklist;
  readonly #log: Logger;
  /** Hash of the instance token: the set in SQLite belongs to this credential. */
  readonly #identity: string;

  /** From the server's `welcome`. */
  instanceId: string | null = null;
  tenantId: string | null = null;
  /** Reconnects since start. */
  reconnects = 0;
  lastConnectedAt: number | null = null;
  lastDisconnect: { code: number; reason: string; at: number } | null = null;
  lastError: string | null = null;

  constructor(opts: ControlChannelOptions) {
    super();
    this.#o = {
      serverUrl: opts.serverUrl,
      token: opts.token,
      version: opts.version,
      reconnectMinMs: opts.reconnectMinMs ?? 500,
      reconnectMaxMs: opts.reconnectMaxMs ?? 30_000,
      unauthorizedRetryMs: opts.unauthorizedRetryMs ?? 60_000,
      heartbeatMs: opts.heartbeatMs ?? 30_000,
      resyncTimeoutMs: opts.resyncTimeoutMs ?? 30_000,
      random: opts.random ?? Math.random,
    };
    this.#bl = opts.blacklist;
    this.#log = opts.log;
    this.url = controlUrl(opts.serverUrl);
    this.#identity = createHash('sha256')
      .update(`${this.url}\0${opts.token}`)
      .digest('hex')
      .slice(0, 32);
  }

  get state(): ChannelState {
    return this.#state;
  }
  /** True while the socket to the server is open. */
  get connected(): boolean {
    return this.#state === 'open';
  }

  /** Starts connecting (no-op if already started). */
  start(): void {
    if (this.#state !== 'idle' || this.#stopping) return;
    this.#connect();
  }

  /** Closes the socket and stops reconnecting. */
  async close(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearTimeout(this.#reconnectTimer);
    this.#stopTimers();
    const ws = this.#ws;
    this.#state = 'closed';
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'sidecar shutting down');
    });
  }

  // ---- connection ---------------------------------------------------------------------------

  #connect(): void {
    this.#state = 'connecting';
    this.#httpStatus = undefined;
    const ws = new WebSocket(this.url, {
      headers: {
        authorization: `Bearer ${this.#o.token}`,
        'user-agent': `astrdesk-sidecar/${this.#o.version}`,
      },
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
    });
    this.#ws = ws;
    ws.on('unexpected-response', (_req, res) => this.#onUnexpectedResponse(ws, res));
    ws.on('open', () => this.#onOpen(ws));
    ws.on('message', (data, isBinary) => {
      if (ws === this.#ws) this.#onMessage(ws, data, isBinary);
    });
    ws.on('pong', () => {
      this.#alive = true;
    });
    ws.on('error', (err) => {
      // After an HTTP refusal the error is only our own abort: keep the status as the cause.
      if (this.#httpStatus !== undefined) return;
      this.lastError = err.message;
      // Refused/reset connections repeat every backoff while the server is down: warn once per outage.
      this.#log[this.#attempt > 1 ? 'debug' : 'warn'](
        { err: err.message, url: this.url },
        'control channel error',
      );
    });
    ws.on('close', (code, reason) => this.#onClose(ws, code, reason.toString()));
  }

  #onUnexpectedResponse(ws: WebSocket, res: IncomingMessage): void {
    this.#httpStatus = res.statusCode;
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (body.length < 2000) body += chunk;
    });
    const done = () => {
      clearTimeout(timer);
      let code: string | undefined;
      try {
        code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
      } catch {}
      const status = res.statusCode ?? 0;
      this.lastError = `HTTP ${status}${code ? ` ${code}` : ''}`;
      if (status === 401 || status === 403)
        this.#log.error(
          { status, code, url: this.url },
          'the server rejected the instance token (check ASTRDESK_INSTANCE_TOKEN and that the tenant is active); retrying slowly, enforcing from the cache meanwhile',
        );
      else
        this.#log.warn(
          { status, code, url: this.url },
          'the server refused the control channel upgrade',
        );
      ws.terminate();
    };
    const timer = setTimeout(done, 2000);
    res.once('end', done);
    res.once('error', done);
  }

  #onOpen(ws: WebSocket): void {
    if (ws !== this.#ws) return;
    this.#state = 'open';
    this.#openedAt = Date.now();
    this.lastConnectedAt = this.#openedAt;
    this.lastError = null;
    this.#alive = true;
    this.#heartbeatTimer = setInterval(() => {
      if (!this.#alive) {
        this.#log.warn(
          { heartbeat_ms: this.#o.heartbeatMs },
          'control channel silent for two heartbeats; reconnecting',
        );
        ws.terminate();
        return;
      }
      this.#alive = false;
      try {
        ws.ping();
      } catch {}
    }, this.#o.heartbeatMs);
    this.#heartbeatTimer.unref();
    // A cache synced under another token or server (or never) starts over from a snapshot;
    // it keeps enforcing meanwhile.
    const sameOrigin = this.#bl.identity === this.#identity;
    if (!sameOrigin && this.#bl.identity !== null)
      this.#log.warn(
        { revision: this.#bl.revision },
        'the cached blacklist was synced with another instance token or server; asking for a full snapshot',
      );
    const since = sameOrigin ? this.#bl.revision : 0;
    this.#helloSince = since;
    this.#send({
      v: CONTROL_PROTOCOL_VERSION,
      type: 'hello',
      since,
      version: this.#o.version,
      entries: this.#bl.size,
    });
    this.#log.info({ url: this.url, since, entries: this.#bl.size }, 'control channel connected');
    this.emit('connected');
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#ws = undefined;
    const wasOpen = this.#state === 'open';
    this.#stopTimers();
    try {
      this.#bl.abortSnapshot();
    } catch {}
    this.#queued = [];
    this.#awaitingSnapshot = false;
    this.lastDisconnect = { code, reason, at: Date.now() };
    if (this.#stopping) {
      this.#state = 'closed';
      this.emit('disconnected', { code, reason, retryInMs: null });
      return;
    }
    if (wasOpen && Date.now() - this.#openedAt >= STABLE_MS) this.#attempt = 0;
    const delay = this.#nextDelay(code);
    this.#state = 'waiting';
    if (wasOpen)
      this.#log.warn(
        { code, reason, retry_in_ms: delay },
        'control channel closed; enforcing from the cache, reconnecting',
      );
    else this.#log.debug({ code, reason, retry_in_ms: delay }, 'control channel connect failed');
    this.emit('disconnected', { code, reason, retryInMs: delay });
    this.#reconnectTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.reconnects++;
      this.#connect();
    }, delay);
    this.#reconnectTimer.unref();
  }

  #nextDelay(code: number): number {
    const r = this.#o.random();
    const status = this.#httpStatus;
    if (code === CONTROL_CLOSE_CODES.unauthorized || status === 401 || status === 403) {
      if (code === CONTROL_CLOSE_CODES.unauthorized)
        this.#log.error(
          { code },
          'the server closed the control channel as unauthorized (4001): check ASTRDESK_INSTANCE_TOKEN and that the tenant is active; retrying slowly',
        );
      return Math.round(this.#o.unauthorizedRetryMs * (0.8 + 0.4 * r));
    }
    if (code === CONTROL_CLOSE_CODES.replaced) {
      this.#log.warn(
        { code },
        'another sidecar connected with this instance token (4009 replaced); retrying slowly',
      );
      return Math.round(this.#o.reconnectMaxMs * (0.8 + 0.4 * r));
    }
    // Exponential backoff with "equal jitter": half fixed, half random.
    this.#attempt++;
    const exp = Math.min(
      this.#o.reconnectMaxMs,
      this.#o.reconnectMinMs * 2 ** Math.min(this.#attempt - 1, 30),
    );
    return Math.round(exp / 2 + (exp / 2) * r);
  }

  #stopTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#resyncTimer);
    this.#heartbeatTimer = undefined;
    this.#resyncTimer = undefined;
  }

  #send(frame: SidecarFrame): void {
    const ws = this.#ws;
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  /** Closes the socket with 1008 (it reconnects after the usual backoff). */
  #protocolError(ws: WebSocket, message: string): void {
    this.#log.warn({ problem: message }, 'malformed control frame from the server; closing 1008');
    this.lastError = `protocol error: ${message}`;
    this.emit('protocol_error', { message });
    const t = setTimeout(() => ws.terminate(), 2000);
    t.unref();
    ws.once('close', () => clearTimeout(t));
    ws.close(CONTROL_CLOSE_CODES.protocolError, closeReason(message));
  }

  // ---- frames -------------------------------------------------------------------------------

  #onMessage(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    this.#alive = true;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (isBinary) {
      this.#protocolError(ws, 'binary frame');
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch {
      this.#protocolError(ws, 'frame is not valid JSON');
      return;
    }
    const parsed = ServerFrame.safeParse(raw);
    if (!parsed.success) {
      const type = unknownControlFrameType(raw, SERVER_FRAME_TYPES);
      if (type !== undefined) {
        // A newer server may send kinds of frame this sidecar does not know yet (deliveries,
        // config): skipping them keeps the blacklist in sync instead of reconnecting forever.
        this.ignoredFrames++;
        if (!this.#ignoredTypes.has(type)) {
          this.#ignoredTypes.add(type);
          this.#log.warn(
            { frame_type: type },
            'ignoring a control frame type this sidecar does not know',
          );
        }
        return;
      }
      this.#protocolError(ws, describeBadFrame(raw, parsed.error));
      return;
    }
    const frame = parsed.data;
    try {
      this.#handle(ws, frame);
    } catch (err) {
      // A local failure (e.g. the disk): drop this connection and start over from SQLite.
      this.#log.error({ err, frame: frame.type }, 'failed to apply a control frame; reconnecting');
      this.lastError = err instanceof Error ? err.message : String(err);
      ws.close(1011, 'sidecar failed to apply a frame');
    }
  }

  #handle(ws: WebSocket, frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        this.instanceId = frame.instance_id;
        this.tenantId = frame.tenant_id;
        this.#bl.serverRevision = frame.revision;
        this.#log.info(
          {
            instance_id: frame.instance_id,
            tenant_id: frame.tenant_id,
            server_revision: frame.revision,
            revision: this.#bl.revision,
          },
          'control channel welcome',
        );
        this.emit('welcome', {
          instance_id: frame.instance_id,
          tenant_id: frame.tenant_id,
          revision: frame.revision,
        });
        // The server sends nothing when `since` equals its revision. If we said 0 only because
        // the cache belongs to another token, that would leave the foreign set in force.
        if (
          frame.revision === this.#helloSince &&
          this.#bl.identity !== this.#identity &&
          (this.#bl.revision !== 0 || this.#bl.size !== 0)
        )
          this.#requestResync('the cached set was synced under another instance token');
        return;
      case 'ping':
        this.#send({ v: CONTROL_PROTOCOL_VERSION, type: 'pong', ts: frame.ts });
        return;
      case 'error':
        this.#log.warn({ code: frame.code, message: frame.message }, 'control channel error frame');
        this.lastError = `${frame.code}: ${frame.message}`;
        return;
      case 'snapshot_begin':
        if (this.#bl.snapshotInProgress)
          this.#log.warn('snapshot_begin while a snapshot was streaming; starting over');
        clearTimeout(this.#resyncTimer);
        this.#queued = [];
        this.#bl.beginSnapshot(frame.revision, frame.total);
        this.#log.info({ revision: frame.revision, total: frame.total }, 'receiving snapshot');
        return;
      case 'snapshot_chunk':
        if (!this.#bl.snapshotInProgress) {
          this.#protocolError(ws, 'snapshot_chunk without snapshot_begin');
          return;
        }
        this.#bl.addSnapshotChunk(frame.entries);
        return;
      case 'snapshot_end': {
        if (!this.#bl.snapshotInProgress) {
          this.#protocolError(ws, 'snapshot_end without snapshot_begin');
          return;
        }
        const r = this.#bl.finishSnapshot(frame.revision, frame.checksum);
        const queued = this.#queued;
        this.#queued = [];
        if (!r.ok) {
          this.#requestResync(r.reason);
          return;
        }
        this.#bl.setIdentity(this.#identity);
        this.#awaitingSnapshot = false;
        this.#attempt = 0;
        this.#send({ v: CONTROL_PROTOCOL_VERSION, type: 'ack', revision: r.revision });
        this.#log.info(
          { revision: r.revision, entries: r.entries, checksum: r.checksum },
          'snapshot applied',
        );
        this.emit('synced', { kind: 'snapshot', revision: r.revision, entries: r.entries });
        for (const d of queued) {
          if (this.#awaitingSnapshot || ws !== this.#ws) break;
          this.#onDelta(d);
        }
        return;
      }
      case 'delta':
        if (this.#bl.snapshotInProgress) {
          // A change committed while the snapshot streams: apply it after snapshot_end.
          if (this.#queued.length >= MAX_QUEUED_DELTAS) {
            this.#bl.abortSnapshot();
            this.#queued = [];
            this.#requestResync('too many deltas while a snapshot was streaming');
            return;
          }
          this.#queued.push(frame);
          return;
        }
        this.#onDelta(frame);
        return;
    }
  }

  #onDelta(frame: DeltaFrame): void {
    if (this.#awaitingSnapshot) {
      this.#log.debug(
        { from: frame.from_revision, revision: frame.revision },
        'delta ignored while waiting for the requested snapshot',
      );
      return;
    }
    if (this.#bl.identity !== this.#identity) {
      // Deltas only continue a set synced under this token; an empty, never-synced cache is fine.
      if (this.#bl.revision !== 0 || this.#bl.size !== 0) {
        this.#requestResync('the cached set was synced under another instance token');
        return;
      }
      this.#bl.setIdentity(this.#identity);
    }
    const r = this.#bl.applyDelta(frame.from_revision, frame.revision, frame.changes);
    if (r.kind === 'gap') {
      this.#requestResync(r.reason);
      return;
    }
    if (r.kind === 'stale') {
      this.#log.debug(
        { revision: frame.revision, local: this.#bl.revision },
        'delta already applied',
      );
      return;
    }
    this.#send({ v: CONTROL_PROTOCOL_VERSION, type: 'ack', revision: r.revision });
    this.#log.debug({ revision: r.revision, changes: r.changes }, 'delta applied');
    this.emit('synced', { kind: 'delta', revision: r.revision, entries: this.#bl.size });
  }

  #requestResync(reason: string): void {
    this.#log.warn({ reason, revision: this.#bl.revision }, 'asking the server for a resync');
    this.#awaitingSnapshot = true;
    this.#send({ v: CONTROL_PROTOCOL_VERSION, type: 'resync', reason: reason.slice(0, 500) });
    this.emit('resync', { reason });
    clearTimeout(this.#resyncTimer);
    const ws = this.#ws;
    this.#resyncTimer = setTimeout(() => {
      if (!this.#awaitingSnapshot || !ws || ws !== this.#ws) return;
      this.#log.warn(
        { timeout_ms: this.#o.resyncTimeoutMs },
        'no snapshot after asking for a resync; reconnecting',
      );
      ws.close(1000, 'resync timed out');
    }, this.#o.resyncTimeoutMs);
    this.#resyncTimer.unref();
  }
}

/** `http(s)://host/base` → `ws(s)://host/base/v1/sidecar/connect`. */
export function controlUrl(serverUrl: string): string {
  const base = new URL(serverUrl.endsWith('/') ? serverUrl : `${serverUrl}/`);
  const url = new URL('v1/sidecar/connect', base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** A WebSocket close reason is at most 123 bytes of UTF-8. */
function closeReason(message: string): string {
  let s = message;
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}

function describeBadFrame(
  raw: unknown,
  error: { issues: { path: PropertyKey[]; message: string }[] },
): string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return 'frame is not a JSON object';
  const f = raw as { v?: unknown; type?: unknown };
  if (f.v !== CONTROL_PROTOCOL_VERSION)
    return `unsupported protocol version ${JSON.stringify(f.v ?? null)}`;
  if (typeof f.type !== 'string' || !SERVER_FRAME_TYPES.includes(f.type))
    return `unknown frame type ${JSON.stringify(f.type ?? null)}`;
  const i = error.issues[0];
  return `bad ${f.type} frame: ${i ? `${i.path.map(String).join('.') || 'frame'}: ${i.message}` : 'invalid'}`;
}

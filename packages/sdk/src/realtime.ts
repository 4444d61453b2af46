/**
 * The realtime client: a tenant's event log over a WebSocket (`GET /v1/realtime`), with
 * resume after reconnects. Runs wherever a WHATWG-style `WebSocket` exists: browsers, Node ≥ 22,
 * Deno, Bun, or Node 20 with the `ws` package passed in as `WebSocket`.
 */
import {
  AstrDeskError,
  AuthenticationError,
  PermissionDeniedError,
  RealtimeError,
} from './error.js';
import type {
  EventEnvelope,
  EventType,
  Me,
  RealtimeReadyFrame,
  RealtimeResyncFrame,
} from './types.js';

/**
 * What the client needs of a WebSocket: the browser's, Node 22's global one and the `ws`
 * package's all fit. Handlers are typed loosely so that each implementation's own event
 * types are accepted.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
}

/** A `WebSocket` class: `globalThis.WebSocket`, or `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface RealtimeConnectOptions {
  /**
   * Resume after this event seq: the server replays what came later (or sends
   * `resync_required` when that is too far back). Default: start from the log's head.
   */
  lastSeq?: number | undefined;
  /**
   * The WebSocket implementation. Default `globalThis.WebSocket` (browsers, Node ≥ 22, Deno,
   * Bun). On Node 20 pass the `ws` package's: `import { WebSocket } from 'ws'`.
   */
  WebSocket?: WebSocketConstructor | undefined;
  /** The credential to connect with. Default: the client's `apiKey` (member session or API key). */
  token?: string | undefined;
  /** Reconnect after the connection drops. Default true. */
  reconnect?: boolean | undefined;
  /** The first reconnect waits about this long (ms); each failure doubles it. Default 500. */
  minReconnectDelayMs?: number | undefined;
  /** The longest wait between reconnects (ms). Default 30 000. */
  maxReconnectDelayMs?: number | undefined;
  /**
   * How often a `{type:'ping'}` keepalive is sent (ms); a connection that answers nothing for
   * two intervals is dropped and reconnected. Default 25 000; 0 turns keepalives off.
   */
  pingIntervalMs?: number | undefined;
  /** How long opening a socket may take (ms) before it is abandoned and retried. Default 20 000. */
  connectTimeoutMs?: number | undefined;
  /**
   * When a socket cannot be opened, ask `GET /v1/me` why: a credential the API refuses (401,
   * 403, or one that lacks `conversations:read`) stops reconnecting with an `error`. Browsers
   * do not tell a refused WebSocket handshake from a network failure. Default true.
   */
  checkCredentials?: boolean | undefined;
  /** Closes the connection when aborted. */
  signal?: AbortSignal | undefined;
}

/** A socket closed; the connection reconnects after `delayMs` unless `willReconnect` is false. */
export interface RealtimeDisconnect {
  code: number;
  reason: string;
  willReconnect: boolean;
  delayMs: number | undefined;
}

/** The connection ended for good: `close()` was called, or a fatal `error` (e.g. 4001). */
export interface RealtimeClose {
  code: number;
  reason: string;
  error: AstrDeskError | undefined;
}

export type RealtimeState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What each listener type receives. Event types (`message.created`...) receive their events. */
export interface RealtimeEventMap {
  /** Every (re)connection's first frame: the log head and who is connected. */
  ready: RealtimeReadyFrame;
  /** Every event, in seq order, each once. */
  event: EventEnvelope;
  /**
   * Events were missed that the server could not replay: reload your state over HTTP. The
   * stream continues from `last_seq`.
   */
  resync: RealtimeResyncFrame;
  /** Something went wrong. After a fatal error (4001, a refused credential) a `close` follows. */
  error: AstrDeskError;
  /** A socket closed; see `willReconnect`. */
  disconnect: RealtimeDisconnect;
  /** The connection ended for good. */
  close: RealtimeClose;
}

export type RealtimeListenerMap = RealtimeEventMap & {
  [T in EventType]: EventEnvelope & { type: T };
};

export type RealtimeListener<K extends keyof RealtimeListenerMap> = (
  payload: RealtimeListenerMap[K],
) => void;

/** Close codes of `GET /v1/realtime`. */
export const REALTIME_CLOSE_CODES = {
  normal: 1000,
  serverShutdown: 1001,
  abnormal: 1006,
  policyViolation: 1008,
  internalError: 1011,
  unauthorized: 4001,
  slowConsumer: 4008,
  /** Used by this client when it abandons a socket (connect or keepalive timeout). */
  clientTimeout: 4000,
} as const;

const OPEN = 1;
/** A connection up this long (ms) counts as healthy: the next reconnect starts the backoff over. */
const STABLE_CONNECTION_MS = 10_000;
const REALTIME_SCOPE = 'conversations:read';

/** @internal What the resource hands the connection. */
export interface RealtimeTransport {
  /** The `ws(s)://.../v1/realtime` URL without query. */
  url: URL;
  token: string;
  WebSocket: WebSocketConstructor;
  /** `GET /v1/me` with the connection's credential. */
  whoAmI: () => Promise<Me>;
}

type AnyListener = (payload: never) => void;

class EventQueue {
  readonly #items: EventEnvelope[] = [];
  #waiter:
    | { resolve: (r: IteratorResult<EventEnvelope>) => void; reject: (e: unknown) => void }
    | undefined;
  #ended = false;
  #error: unknown;

  constructor(private readonly detach: (q: EventQueue) => void) {}

  push(e: EventEnvelope) {
    if (this.#ended) return;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.resolve({ value: e, done: false });
    } else {
      this.#items.push(e);
    }
  }

  end(error?: unknown) {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    const w = this.#waiter;
    this.#waiter = undefined;
    if (!w) return;
    if (error !== undefined) w.reject(error);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<EventEnvelope>> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.#ended) {
      if (this.#error !== undefined) {
        const err = this.#error;
        this.#error = undefined;
        return Promise.reject(err);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<EventEnvelope>> {
    this.#items.length = 0;
    this.end();
    this.#error = undefined;
    this.detach(this);
    return Promise.resolve({ value: undefined, done: true });
  }
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false) {
  if (value === undefined) return fallback;
  if (
    !(
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (value > 0 || (allowZero && value === 0))
    )
  )
    throw new AstrDeskError(
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${value}`,
    );
  return value;
}

/**
 * Like EventTarget: a throwing listener is reported (`reportError` in browsers, an uncaught
 * exception in Node) and does not stop the others or the connection.
 */
function reportListenerError(err: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(err);
  else
    setTimeout(() => {
      throw err;
    }, 0);
}

function frameText(data: unknown): string | Promise<string> | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  const blob = data as { text?: () => Promise<string> } | null;
  if (blob && typeof blob.text === 'function') return blob.text();
  return undefined;
}

/**
 * A live, self-healing subscription to the tenant's events. Listen with `on(type, fn)` (it
 * returns the unsubscribe function), or iterate with `for await (const event of conn)`; end it
 * with `close()`.
 *
 * After a drop it reconnects with exponential backoff and jitter, resuming after the last seq
 * it received, so events arrive in order, each once. When the server cannot replay what was
 * missed it emits `resync`: reload your state then.
 *
 * @example
 * const conn = client.realtime.connect();
 * conn.on('message.created', (e) => console.log(e.data));
 * conn.on('resync', () => reloadConversations());
 * conn.on('error', (err) => console.error(err));
 * // later: conn.close();
 */
export class RealtimeConnection implements AsyncIterable<EventEnvelope> {
  readonly #t: RealtimeTransport;
  readonly #reconnect: boolean;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #pingInterval: number;
  readonly #connectTimeout: number;
  readonly #checkCredentials: boolean;
  readonly #listeners = new Map<string, Set<AnyListener>>();
  readonly #queues = new Set<EventQueue>();
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.close();

  #state: RealtimeState = 'connecting';
  #ws: WebSocketLike | undefined;
  #opened = false;
  #lastSeq: number | undefined;
  /** Reconnects since the last connection that stayed up; drives the backoff. */
  #failures = 0;
  /** When the current socket's `ready` arrived. */
  #readyAt: number | undefined;
  #awaitingPong = false;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #closeInfo: RealtimeClose | undefined;
  #resolveClosed!: (info: RealtimeClose) => void;

  /** Resolves when the connection has ended for good (after `close()` or a fatal error). */
  readonly closed: Promise<RealtimeClose>;

  /** @internal Use `client.realtime.connect()`. */
  constructor(transport: RealtimeTransport, options: RealtimeConnectOptions = {}) {
    this.#t = transport;
    this.#reconnect = options.reconnect ?? true;
    this.#minDelay = positive('minReconnectDelayMs', options.minReconnectDelayMs, 500);
    this.#maxDelay = Math.max(
      this.#minDelay,
      positive('maxReconnectDelayMs', options.maxReconnectDelayMs, 30_000),
    );
    this.#pingInterval = positive('pingIntervalMs', options.pingIntervalMs, 25_000, true);
    this.#connectTimeout = positive('connectTimeoutMs', options.connectTimeoutMs, 20_000);
    this.#checkCredentials = options.checkCredentials ?? true;
    if (options.lastSeq !== undefined) {
      if (!Number.isSafeInteger(options.lastSeq) || options.lastSeq < 0)
        throw new AstrDeskError(`lastSeq must be a non-negative integer, got ${options.lastSeq}`);
      this.#lastSeq = options.lastSeq;
    }
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#signal = options.signal;
    if (this.#signal?.aborted) {
      queueMicrotask(() => this.close());
      return;
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#open();
  }

  /** `connecting` (first attempt), `open`, `reconnecting` or `closed`. */
  get state(): RealtimeState {
    return this.#state;
  }

  /** The seq of the last event received (or the log head at the first `ready`); resume from it. */
  get lastSeq(): number | undefined {
    return this.#lastSeq;
  }

  /** Calls `listener` for each `type`; returns the function that removes it. */
  on<K extends keyof RealtimeListenerMap>(type: K, listener: RealtimeListener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    set.add(listener as AnyListener);
    return () => this.off(type, listener);
  }

  /** Calls `listener` for the next `type` only. */
  once<K extends keyof RealtimeListenerMap>(type: K, listener: RealtimeListener<K>): () => void {
    const off = this.on(type, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof RealtimeListenerMap>(type: K, listener: RealtimeListener<K>): void {
    this.#listeners.get(type)?.delete(listener as AnyListener);
  }

  /**
   * Every event from now on, until the connection closes; a fatal error is thrown from the
   * loop. Breaking out of the loop does not close the connection: call `close()`.
   */
  [Symbol.asyncIterator](): AsyncIterator<EventEnvelope> {
    const queue = new EventQueue((q) => this.#queues.delete(q));
    if (this.#closeInfo) queue.end(this.#closeInfo.error);
    else this.#queues.add(queue);
    return queue;
  }

  /** Closes the connection for good; no reconnect follows. */
  close(code: number = REALTIME_CLOSE_CODES.normal, reason = 'closed by client'): void {
    if (this.#state === 'closed') return;
    this.#finish({ code, reason, error: undefined });
  }

  // --- sockets -------------------------------------------------------------------------------

  #url(): string {
    const url = new URL(this.#t.url.href);
    url.searchParams.set('token', this.#t.token);
    if (this.#lastSeq !== undefined) url.searchParams.set('last_seq', String(this.#lastSeq));
    return url.href;
  }

  #open(): void {
    this.#opened = false;
    this.#readyAt = undefined;
    this.#awaitingPong = false;
    let ws: WebSocketLike;
    try {
      ws = new this.#t.WebSocket(this.#url());
    } catch (err) {
      this.#fail(
        new RealtimeError('connect_failed', `Could not open the WebSocket: ${String(err)}`, {
          cause: err,
        }),
        REALTIME_CLOSE_CODES.abnormal,
        'could not open',
      );
      return;
    }
    this.#ws = ws;
    this.#connectTimer = setTimeout(
      () => this.#abandon(ws, 'connect timeout'),
      this.#connectTimeout,
    );
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      clearTimeout(this.#connectTimer);
      this.#opened = true;
      this.#state = 'open';
      if (this.#pingInterval > 0) {
        this.#pingTimer = setInterval(() => this.#keepalive(ws), this.#pingInterval);
      }
    };
    ws.onmessage = (ev: { data?: unknown }) => {
      if (this.#ws !== ws) return;
      this.#awaitingPong = false;
      const text = frameText(ev.data);
      if (typeof text === 'string') this.#onFrame(text);
      else
        void text?.then(
          (t) => this.#ws === ws && this.#onFrame(t),
          () => {},
        );
    };
    // Every failure is followed by a close event, which is where it is handled.
    ws.onerror = () => {};
    ws.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.#ws !== ws) return;
      this.#onSocketClosed(ev.code ?? REALTIME_CLOSE_CODES.abnormal, ev.reason ?? '');
    };
  }

  #keepalive(ws: WebSocketLike): void {
    if (this.#ws !== ws) return;
    if (this.#awaitingPong) {
      this.#abandon(ws, 'keepalive timeout');
      return;
    }
    this.#awaitingPong = true;
    this.#send(ws, { type: 'ping', ts: Date.now() });
  }

  #send(ws: WebSocketLike, frame: unknown): void {
    if (ws.readyState !== OPEN) return;
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      /* the close event follows */
    }
  }

  /** Gives up on a socket that does not answer: a dead TCP connection may never send a close. */
  #abandon(ws: WebSocketLike, reason: string): void {
    if (this.#ws !== ws) return;
    this.#detach(REALTIME_CLOSE_CODES.clientTimeout, reason);
    this.#onSocketClosed(REALTIME_CLOSE_CODES.clientTimeout, reason);
  }

  /** Stops listening to the current socket and closes it. */
  #detach(code: number, reason: string): void {
    const ws = this.#ws;
    this.#ws = undefined;
    clearTimeout(this.#connectTimer);
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    if (!ws) return;
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    // Keep an error handler: some implementations throw on an unhandled 'error'.
    ws.onerror = () => {};
    try {
      // Clients may only send 1000 or 3000–4999; anything else throws in browsers.
      const valid = code === REALTIME_CLOSE_CODES.normal || (code >= 3000 && code <= 4999);
      ws.close(valid ? code : REALTIME_CLOSE_CODES.normal, reason.slice(0, 100));
    } catch {
      /* already closed, or closing before open is not allowed here */
    }
  }

  #onFrame(text: string): void {
    let frame: { type?: unknown; [k: string]: unknown };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null) return;
    switch (frame.type) {
      case 'ready': {
        const ready = frame as unknown as RealtimeReadyFrame;
        this.#readyAt = Date.now();
        this.#state = 'open';
        if (this.#lastSeq === undefined && typeof ready.last_seq === 'number')
          this.#lastSeq = ready.last_seq;
        this.#emit('ready', ready);
        return;
      }
      case 'event': {
        const event = frame.event as EventEnvelope | undefined;
        if (!event || typeof event.seq !== 'number') return;
        // Already seen (a replay overlapping what arrived live, or a resume that went back).
        if (this.#lastSeq !== undefined && event.seq <= this.#lastSeq) return;
        this.#lastSeq = event.seq;
        this.#emit('event', event);
        this.#emit(event.type, event as never);
        for (const q of this.#queues) q.push(event);
        return;
      }
      case 'resync_required': {
        const resync = frame as unknown as RealtimeResyncFrame;
        // The server streams on from here, even when that is below what we had (ahead_of_log).
        if (typeof resync.last_seq === 'number') this.#lastSeq = resync.last_seq;
        this.#emit('resync', resync);
        return;
      }
      case 'error': {
        const code = typeof frame.code === 'string' ? frame.code : 'error';
        const message = typeof frame.message === 'string' ? frame.message : 'Realtime error';
        this.#emit('error', new RealtimeError(code, message));
        return;
      }
      default:
        // pong, and frame types this version does not know.
        return;
    }
  }

  #onSocketClosed(code: number, reason: string): void {
    const opened = this.#opened;
    // Only a connection that stayed up a while resets the backoff, so a server that accepts
    // and drops at once is not hammered.
    if (this.#readyAt !== undefined && Date.now() - this.#readyAt >= STABLE_CONNECTION_MS)
      this.#failures = 0;
    this.#detach(code, reason);
    if (this.#state === 'closed') return;

    if (code === REALTIME_CLOSE_CODES.unauthorized) {
      this.#emit('disconnect', { code, reason, willReconnect: false, delayMs: undefined });
      this.#fail(
        new RealtimeError(
          'unauthorized',
          `The server closed the realtime connection: ${reason || 'credential no longer valid'}`,
          { closeCode: code },
        ),
        code,
        reason,
      );
      return;
    }
    if (code === REALTIME_CLOSE_CODES.policyViolation) {
      this.#emit(
        'error',
        new RealtimeError(
          'policy_violation',
          `The server refused a frame: ${reason || 'policy violation'}`,
          { closeCode: code },
        ),
      );
    }
    if (!this.#reconnect) {
      this.#emit('disconnect', { code, reason, willReconnect: false, delayMs: undefined });
      this.#finish({ code, reason, error: undefined });
      return;
    }
    this.#state = 'reconnecting';
    if (!opened && this.#checkCredentials) {
      void this.#checkThenReconnect(code, reason);
      return;
    }
    this.#scheduleReconnect(code, reason);
  }

  /** The socket never opened: a refused credential looks the same as a network failure, so ask. */
  async #checkThenReconnect(code: number, reason: string): Promise<void> {
    let fatal: AstrDeskError | undefined;
    try {
      const me = await this.#t.whoAmI();
      if (me.kind !== 'member' && me.kind !== 'api_key') {
        fatal = new RealtimeError(
          'forbidden',
          `A ${me.kind} credential cannot open a realtime connection; use a member session or an API key`,
        );
      } else if (Array.isArray(me.scopes) && !me.scopes.includes(REALTIME_SCOPE)) {
        fatal = new RealtimeError(
          'insufficient_scope',
          `This credential lacks the "${REALTIME_SCOPE}" scope the realtime connection needs`,
        );
      }
    } catch (err) {
      if (err instanceof AuthenticationError || err instanceof PermissionDeniedError) fatal = err;
      // Anything else (network, 5xx, 429) says nothing about the credential: keep trying.
    }
    if (this.#state !== 'reconnecting' || this.#ws !== undefined || this.#reconnectTimer) return;
    if (fatal) {
      this.#emit('disconnect', { code, reason, willReconnect: false, delayMs: undefined });
      this.#fail(fatal, code, reason);
      return;
    }
    this.#scheduleReconnect(code, reason);
  }

  #scheduleReconnect(code: number, reason: string): void {
    const ceiling = Math.min(this.#maxDelay, this.#minDelay * 2 ** Math.min(this.#failures, 30));
    // Equal jitter: at least half the ceiling, so a crowd of clients spreads out but none hammers.
    const delayMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.#failures++;
    this.#emit('disconnect', { code, reason, willReconnect: true, delayMs });
    if (this.#state !== 'reconnecting') return; // a listener closed it
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state === 'reconnecting') this.#open();
    }, delayMs);
  }

  #fail(error: AstrDeskError, code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#emit('error', error);
    this.#finish({ code, reason, error });
  }

  #finish(info: RealtimeClose): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closeInfo = info;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#detach(info.code, info.reason);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const q of this.#queues) q.end(info.error);
    this.#queues.clear();
    this.#emit('close', info);
    this.#resolveClosed(info);
  }

  #emit<K extends keyof RealtimeListenerMap>(type: K, payload: RealtimeListenerMap[K]): void {
    const set = this.#listeners.get(type);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as RealtimeListener<K>)(payload);
      } catch (err) {
        reportListenerError(err);
      }
    }
  }
}

import {
  REALTIME_CLOSE_CODES,
  RealtimeClientFrame,
  type RealtimeServerFrame,
} from '@astrdesk/protocol';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { EventLog, LoggedEvent } from '../infra/events/index.js';
import type { Viewer } from './auth.js';
import type { ResolvedOptions } from './options.js';

/** What a connection needs from its hub. */
export interface ConnectionEnv {
  events: EventLog;
  opts: ResolvedOptions;
  log: Logger;
  /** The event frame, serialised once per event for every socket. */
  frameOf(e: LoggedEvent): Buffer;
  /** Counts why sockets were closed (stats). */
  count(what: 'slowConsumer' | 'policyViolation' | 'internalError'): void;
}

/** `reason` of a `resync_required` frame. */
export type ResyncReason = 'ahead_of_log' | 'window_exceeded' | 'log_trimmed' | 'gap';

const SLOW_REASON = 'slow consumer: reconnect with last_seq';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** A client frame, or why it is not one (the close reason). */
function parseClientFrame(data: RawData): RealtimeClientFrame | string {
  let json: unknown;
  try {
    json = JSON.parse(rawToString(data));
  } catch {
    return 'malformed JSON';
  }
  const parsed = RealtimeClientFrame.safeParse(json);
  return parsed.success ? parsed.data : 'unknown or invalid frame (expected ping or ack)';
}

/**
 * One socket's stream of its tenant's log. Invariant: events reach the client in seq order,
 * each at most once, with no gaps — `lastSent` is the last seq handled (sent, or skipped as not
 * visible to this viewer). Live events arrive from the bus; while the connection is catching
 * up from the log (resume, or a live event arrived with a seq beyond `lastSent + 1`, e.g. from
 * another replica out of order) they wait in `pending`, and anything at or below `lastSent` is
 * dropped.
 */
export class Connection {
  /** Last seq handled. */
  lastSent = 0;
  /** Highest seq the client acknowledged (informational). */
  acked = 0;
  /** Pings sent since the last sign of life. */
  missedPongs = 0;
  /** Resolves with the close code once the socket is closed. */
  readonly closed: Promise<number>;

  #closing = false;
  #busy = true;
  #pending: LoggedEvent[] = [];
  #resolveClosed!: (code: number) => void;

  constructor(
    readonly ws: WebSocket,
    readonly viewer: Viewer,
    private readonly env: ConnectionEnv,
  ) {
    this.closed = new Promise((r) => {
      this.#resolveClosed = r;
    });
  }

  get isClosing(): boolean {
    return this.#closing;
  }

  get pendingCount(): number {
    return this.#pending.length;
  }

  /**
   * Sends `ready`, then replays from the log when resuming (or answers `resync_required`),
   * then goes live. Live events arriving meanwhile are queued, so none is lost between reading
   * the log head and going live (the hub registered this connection before calling start).
   */
  async start(resumeFrom: number | undefined): Promise<void> {
    try {
      const { events } = this.env;
      const head = await events.lastSeq(this.viewer.tenantId);
      if (this.#closing) return;
      this.#sendJson({
        type: 'ready',
        last_seq: head,
        principal: { kind: this.viewer.kind, id: this.viewer.id },
      });
      if (resumeFrom === undefined) {
        this.lastSent = head;
      } else {
        const problem = await this.#resumeProblem(resumeFrom, head);
        if (this.#closing) return;
        if (problem) this.#resync(problem, head);
        else this.lastSent = resumeFrom;
      }
      await this.#pump(head);
    } catch (err) {
      this.#fail(err);
    }
  }

  async #resumeProblem(from: number, head: number): Promise<ResyncReason | undefined> {
    if (from > head) return 'ahead_of_log';
    if (from === head) return undefined;
    if (head - from > this.env.opts.resumeWindow) return 'window_exceeded';
    const first = await this.env.events.firstSeq(this.viewer.tenantId);
    if (first === 0 || first > from + 1) return 'log_trimmed';
    return undefined;
  }

  /** A committed event from the bus. */
  onLive(e: LoggedEvent): void {
    if (this.#closing) return;
    if (this.#busy) {
      this.#pending.push(e);
      if (this.#pending.length > this.env.opts.maxPendingEvents) this.#slowConsumer();
      return;
    }
    if (e.seq <= this.lastSent) return;
    if (e.seq === this.lastSent + 1) {
      this.#deliver(e);
      return;
    }
    // A gap: the events in between are committed (seqs are handed out in commit order), so
    // fetch them from the log first.
    this.#busy = true;
    this.#pending.push(e);
    void this.#pump(e.seq - 1).catch((err: unknown) => this.#fail(err));
  }

  /** Catches up to `target` from the log, then drains `pending`, until nothing is missing. */
  async #pump(target: number): Promise<void> {
    let want = target;
    for (;;) {
      if (this.lastSent < want && !(await this.#catchUp(want))) return;
      if (this.#closing) return;
      const gap = await this.#drainPending();
      if (this.#closing) return;
      if (gap !== undefined) {
        want = gap;
      } else if (this.#pending.length === 0) {
        this.#busy = false;
        return;
      }
    }
  }

  /**
   * Delivers queued live events in order; returns the seq to catch up to if one is missing.
   * Events arriving while it waits for the socket to drain queue up for the next round.
   */
  async #drainPending(): Promise<number | undefined> {
    const queue = this.#pending;
    this.#pending = [];
    queue.sort((a, b) => a.seq - b.seq);
    for (let i = 0; i < queue.length; i++) {
      const e = queue[i]!;
      if (e.seq <= this.lastSent) continue;
      if (e.seq === this.lastSent + 1) {
        if (!(await this.#room())) return undefined;
        this.#deliver(e);
        if (this.#closing) return undefined;
        continue;
      }
      this.#pending = queue.slice(i).concat(this.#pending);
      return e.seq - 1;
    }
    return undefined;
  }

  /** Reads the log after `lastSent` until `want` is reached; false when the socket closed. */
  async #catchUp(want: number): Promise<boolean> {
    const { events, opts } = this.env;
    let emptyReads = 0;
    while (this.lastSent < want) {
      if (this.#closing) return false;
      const page = await events.read(this.viewer.tenantId, this.lastSent, opts.replayPageSize);
      if (this.#closing) return false;
      const first = page[0];
      if (!first) {
        // Not in the log (yet?): give a lagging read a moment, then tell the client to resync.
        if (emptyReads++ < 3) {
          await sleep(20 * emptyReads);
          continue;
        }
        this.#resync('gap', want);
        return true;
      }
      emptyReads = 0;
      if (first.seq > this.lastSent + 1) this.#resync('log_trimmed', first.seq - 1);
      for (const e of page) {
        if (e.seq !== this.lastSent + 1) break;
        if (!(await this.#room())) return false;
        this.#deliver(e);
        if (this.#closing) return false;
      }
      if (this.#pending.length > 0 && this.#pending[0]!.seq <= this.lastSent) {
        this.#pending = this.#pending.filter((p) => p.seq > this.lastSent);
      }
    }
    return true;
  }

  /**
   * Catch-up is pulled from the log, so it can wait for the client instead of overflowing it:
   * while more than half the buffer is queued, wait for it to drain (or close as slow after
   * `drainTimeoutMs`). Resolves false once the socket is closing.
   */
  async #room(): Promise<boolean> {
    const { maxBufferedBytes, drainTimeoutMs } = this.env.opts;
    if (this.ws.bufferedAmount <= maxBufferedBytes / 2) return !this.#closing;
    const deadline = Date.now() + drainTimeoutMs;
    while (this.ws.bufferedAmount > maxBufferedBytes / 2) {
      if (this.#closing) return false;
      if (Date.now() > deadline) {
        this.#slowConsumer();
        return false;
      }
      await sleep(5);
    }
    return !this.#closing;
  }

  #deliver(e: LoggedEvent) {
    this.lastSent = e.seq;
    if (e.tenantId !== this.viewer.tenantId) return;
    if (e.visibility === 'admin' && !this.viewer.canSeeAdmin) return;
    this.#send(this.env.frameOf(e));
  }

  #resync(reason: ResyncReason, to: number) {
    this.#sendJson({ type: 'resync_required', reason, last_seq: to });
    this.lastSent = to;
  }

  #sendJson(frame: RealtimeServerFrame) {
    this.#send(JSON.stringify(frame));
  }

  #send(data: Buffer | string) {
    if (this.#closing || this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > this.env.opts.maxBufferedBytes) {
      this.#slowConsumer();
      return;
    }
    this.ws.send(data, { binary: false });
  }

  /** A frame from the client: `{"type":"ping"}` or `{"type":"ack","seq":N}`; anything else closes 1008. */
  onMessage(data: RawData, isBinary: boolean): void {
    this.missedPongs = 0;
    if (this.#closing) return;
    const f = isBinary ? 'binary frames are not accepted' : parseClientFrame(data);
    if (typeof f === 'string') {
      this.#policyViolation(f);
      return;
    }
    if (f.type === 'ping') {
      this.#sendJson({ type: 'pong', ...(f.ts !== undefined ? { ts: f.ts } : {}) });
    } else {
      this.acked = Math.max(this.acked, f.seq);
    }
  }

  /** Called on every heartbeat tick. */
  heartbeat(): 'ok' | 'dead' {
    if (this.#closing) return 'ok';
    if (this.missedPongs >= this.env.opts.maxMissedPongs) {
      this.terminate();
      return 'dead';
    }
    this.missedPongs++;
    try {
      this.ws.ping();
    } catch {
      /* not open: the close handler cleans up */
    }
    return 'ok';
  }

  #policyViolation(reason: string) {
    this.env.count('policyViolation');
    this.close(REALTIME_CLOSE_CODES.policyViolation, reason);
  }

  #slowConsumer() {
    if (this.#closing) return;
    this.env.count('slowConsumer');
    this.env.log.info(
      {
        tenant_id: this.viewer.tenantId,
        principal: `${this.viewer.kind}:${this.viewer.id}`,
        buffered: this.ws.bufferedAmount,
        pending: this.#pending.length,
        last_seq: this.lastSent,
      },
      'realtime slow consumer closed',
    );
    this.close(REALTIME_CLOSE_CODES.slowConsumer, SLOW_REASON);
  }

  #fail(err: unknown) {
    if (this.#closing) return;
    this.env.count('internalError');
    this.env.log.warn(
      { err: (err as Error)?.message, tenant_id: this.viewer.tenantId },
      'realtime stream failed',
    );
    this.close(1011, 'internal error: reconnect with last_seq');
  }

  /** Starts the closing handshake; no more frames are sent. */
  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#pending = [];
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
  }

  terminate(): void {
    this.#closing = true;
    this.#pending = [];
    this.ws.terminate();
  }

  /** The socket closed (either side). */
  onClosed(code: number): void {
    this.#closing = true;
    this.#pending = [];
    this.#resolveClosed(code);
  }
}

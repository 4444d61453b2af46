/**
 * A FAKE of the AstrDesk server's control channel (`GET /v1/sidecar/connect`), for tests and
 * demos that run without the real server. It speaks the protocol in @astrdesk/protocol's
 * control.ts: welcome, deltas after `since` or a streamed snapshot, live deltas, ping, and it
 * records every frame the sidecar sends. It is not the real server's implementation.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type BlacklistChange,
  blacklistChecksum,
  CONTROL_PROTOCOL_VERSION,
  SidecarFrame,
  type SyncEntry,
} from '@astrdesk/protocol';
import { type WebSocket, WebSocketServer } from 'ws';

export interface FakeControlServerOptions {
  /** The instance token it accepts (default: any adi_ token). */
  token?: string;
  /** How unauthorized is answered: HTTP 401 at the upgrade (default) or close 4001 after it. */
  unauthorized?: 'http' | 'close';
  chunkSize?: number;
  /** Oldest revision the change log can answer deltas from (older `since` gets a snapshot). */
  logStart?: number;
  /** Share this (listening) HTTP server, e.g. a FakeIngestServer's, so one URL serves both. */
  attach?: Server;
}

interface Conn {
  ws: WebSocket;
  /** Synced to this revision (after hello/ack), so live deltas can follow. */
  live: boolean;
}

export class FakeControlServer {
  readonly wss: WebSocketServer;
  url = '';
  /** The fake's blacklist, keyed platform\0user. */
  readonly entries = new Map<string, SyncEntry>();
  revision = 0;
  /** The change log: each committed change with its revision. */
  readonly log: BlacklistChange[] = [];
  logStart: number;
  chunkSize: number;
  /** Every frame received, parsed (invalid ones are recorded as `{ invalid: raw }`). */
  readonly received: (SidecarFrame | { invalid: string })[] = [];
  /** Close codes/reasons sockets were closed with by the sidecar. */
  readonly closes: { code: number; reason: string }[] = [];
  readonly conns = new Set<Conn>();
  connections = 0;
  /** Snapshot chunks sent, over all connections. */
  chunksSent = 0;
  /** Test hooks. */
  hooks: {
    /** Answer hello yourself (return true to skip the default answer). */
    onHello?: (conn: Conn, hello: Extract<SidecarFrame, { type: 'hello' }>) => boolean | undefined;
    /** Stop streaming a snapshot after this many chunks (simulates a stall/kill mid-stream). */
    stallAfterChunks?: number;
    /** Corrupt the next snapshot's checksum. */
    badChecksumOnce?: boolean;
  } = {};
  readonly #o: FakeControlServerOptions;

  private constructor(opts: FakeControlServerOptions) {
    this.#o = opts;
    this.chunkSize = opts.chunkSize ?? 2;
    this.logStart = opts.logStart ?? 0;
    this.wss = new WebSocketServer({
      ...(opts.attach ? { server: opts.attach } : { host: '127.0.0.1', port: 0 }),
      path: '/v1/sidecar/connect',
      verifyClient: (info, cb) => {
        const auth = info.req.headers.authorization ?? '';
        const ok = this.#authorized(auth);
        if (!ok && (this.#o.unauthorized ?? 'http') === 'http')
          cb(false, 401, 'Unauthorized', { 'content-type': 'application/json' });
        else cb(true);
      },
    });
    this.wss.on('connection', (ws, req) => this.#onConnection(ws, req.headers.authorization ?? ''));
  }

  static async start(opts: FakeControlServerOptions = {}): Promise<FakeControlServer> {
    const s = new FakeControlServer(opts);
    if (!opts.attach) await once(s.wss, 'listening');
    const { port } = (opts.attach ?? s.wss).address() as AddressInfo;
    s.url = `http://127.0.0.1:${port}`;
    return s;
  }

  #authorized(auth: string): boolean {
    const m = /^Bearer (\S+)$/.exec(auth);
    if (!m) return false;
    return this.#o.token ? m[1] === this.#o.token : m[1]!.startsWith('adi_');
  }

  #onConnection(ws: WebSocket, auth: string): void {
    this.connections++;
    if (!this.#authorized(auth)) {
      ws.close(4001, 'unauthorized');
      return;
    }
    const conn: Conn = { ws, live: false };
    this.conns.add(conn);
    ws.on('close', (code, reason) => {
      this.conns.delete(conn);
      this.closes.push({ code, reason: reason.toString() });
    });
    ws.on('message', (data) => {
      let frame: SidecarFrame;
      try {
        frame = SidecarFrame.parse(JSON.parse(data.toString()));
      } catch {
        this.received.push({ invalid: data.toString() });
        ws.close(1008, 'bad frame');
        return;
      }
      this.received.push(frame);
      if (frame.type === 'hello') this.#onHello(conn, frame);
      else if (frame.type === 'resync') this.streamSnapshot(conn);
    });
  }

  #onHello(conn: Conn, hello: Extract<SidecarFrame, { type: 'hello' }>): void {
    if (this.hooks.onHello?.(conn, hello)) return;
    this.send(conn, {
      type: 'welcome',
      instance_id: 'inst_FAKE',
      tenant_id: 'tnt_FAKE',
      revision: this.revision,
    });
    if (hello.since > 0 && hello.since >= this.logStart && hello.since <= this.revision) {
      const changes = this.log.filter((c) => c.revision > hello.since);
      this.send(conn, {
        type: 'delta',
        from_revision: hello.since,
        revision: this.revision,
        changes,
      });
      conn.live = true;
    } else this.streamSnapshot(conn);
  }

  /** Streams the current set: snapshot_begin, chunks, snapshot_end (honours the hooks). */
  streamSnapshot(conn: Conn): void {
    const all = [...this.entries.values()];
    this.send(conn, { type: 'snapshot_begin', revision: this.revision, total: all.length });
    let chunks = 0;
    for (let i = 0; i < all.length; i += this.chunkSize) {
      if (this.hooks.stallAfterChunks !== undefined && chunks >= this.hooks.stallAfterChunks)
        return;
      this.send(conn, { type: 'snapshot_chunk', entries: all.slice(i, i + this.chunkSize) });
      chunks++;
      this.chunksSent++;
    }
    let checksum = blacklistChecksum(all);
    if (this.hooks.badChecksumOnce) {
      this.hooks.badChecksumOnce = false;
      checksum = 'ffffffffffffffff';
    }
    this.send(conn, { type: 'snapshot_end', revision: this.revision, checksum });
    conn.live = true;
  }

  /** Sends a frame with `v: 1` added. */
  send(conn: Conn, frame: Record<string, unknown>): void {
    conn.ws.send(JSON.stringify({ v: CONTROL_PROTOCOL_VERSION, ...frame }));
  }

  /** Sends raw text to every connection (for malformed-frame tests). */
  sendRaw(text: string): void {
    for (const c of this.conns) c.ws.send(text);
  }

  checksum(): string {
    return blacklistChecksum(this.entries.values());
  }

  /** Commits changes as one revision each and pushes them as one delta to live connections. */
  commit(
    ...ops: ({ upsert: SyncEntry } | { remove: { platform: string; platform_user_id: string } })[]
  ): void {
    const from = this.revision;
    const changes: BlacklistChange[] = [];
    for (const op of ops) {
      this.revision++;
      if ('upsert' in op) {
        const e = op.upsert;
        this.entries.set(`${e.platform}\0${e.platform_user_id}`, e);
        changes.push({ op: 'upsert', revision: this.revision, entry: e });
      } else {
        const key = `${op.remove.platform}\0${op.remove.platform_user_id}`;
        const prev = this.entries.get(key);
        this.entries.delete(key);
        changes.push({
          op: 'delete',
          revision: this.revision,
          id: prev?.id ?? 'bl_unknown',
          platform: op.remove.platform,
          platform_user_id: op.remove.platform_user_id,
        });
      }
    }
    this.log.push(...changes);
    for (const c of this.conns)
      if (c.live)
        this.send(c, { type: 'delta', from_revision: from, revision: this.revision, changes });
  }

  /** Changes the set without logging (as if the log was compacted): reconnects need a snapshot. */
  seed(entries: SyncEntry[], revision: number): void {
    this.entries.clear();
    for (const e of entries) this.entries.set(`${e.platform}\0${e.platform_user_id}`, e);
    this.revision = revision;
    this.log.length = 0;
    this.logStart = revision;
  }

  acks(): number[] {
    return this.received.flatMap((f) => ('type' in f && f.type === 'ack' ? [f.revision] : []));
  }

  framesOf<T extends SidecarFrame['type']>(type: T): Extract<SidecarFrame, { type: T }>[] {
    return this.received.filter(
      (f): f is Extract<SidecarFrame, { type: T }> => 'type' in f && f.type === type,
    );
  }

  closeAll(code = 1001, reason = 'fake server restart'): void {
    for (const c of this.conns) c.ws.close(code, reason);
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

export function entry(n: number | string, over: Partial<SyncEntry> = {}): SyncEntry {
  return {
    id: `bl_${String(n).padStart(4, '0')}`,
    platform: 'qq',
    platform_user_id: `u${n}`,
    reason: `reason ${n}`,
    expires_at: null,
    ...over,
  };
}

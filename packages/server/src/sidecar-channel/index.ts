/**
 * The control channel, server side: `GET /v1/sidecar/connect` (WebSocket, instance token).
 *
 * A sidecar says `hello {since}`; it gets the blacklist changes after `since`, or a streamed
 * snapshot when the change log no longer reaches back that far (or `since` is 0), then every
 * change as it commits — on any replica, since commits are announced on the event bus. The
 * sidecar acknowledges revisions; each instance's applied revision, lag and online state are
 * kept on its row.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  blacklistChecksum,
  CONTROL_CLOSE_CODES,
  CONTROL_PROTOCOL_VERSION,
  type ServerFrame,
  SIDECAR_FRAME_TYPES,
  SidecarFrame,
  type SyncEntry,
  unknownControlFrameType,
} from '@astrdesk/protocol';
import { type WebSocket, WebSocketServer } from 'ws';
import { changesSince, toSyncEntry } from '../blacklist/service.js';
import { bearerToken, resolvePrincipal } from '../infra/auth/index.js';
import { newId } from '../infra/crypto/index.js';
import { ApiError, toApiError } from '../infra/http/errors.js';
import { refuseUpgrade } from '../infra/http/upgrade.js';
import type { Services } from '../infra/services.js';

export const SIDECAR_CHANNEL_PATH = '/v1/sidecar/connect';

export interface SidecarChannelOptions {
  snapshotChunkSize?: number;
  pingIntervalMs?: number;
  /** Pause streaming while a socket has more than this many bytes queued. */
  highWaterBytes?: number;
}

export interface SidecarChannel {
  close(): Promise<void>;
  /** Open channels per instance id (for tests and metrics). */
  connections(): Map<string, number>;
}

const MAX_DELTA_PER_FRAME = 1000;
/** Change rows read per query by the tenant fan-out (as `changesSince`'s default). */
const FANOUT_READ_LIMIT = 10_000;
/** Acks are written in one UPDATE per revision at most this often. */
const ACK_FLUSH_MS = 50;

/**
 * `changesSince`, read once more when it finds no change row but a newer revision: that is
 * also what a commit landing between its two queries looks like, and falling back to a full
 * snapshot for it would send the whole list (117 MiB at 1M entries) to a sidecar that is
 * merely one change behind. A log that really no longer reaches back stays `undefined`.
 */
async function readChanges(s: Services, tenantId: string, since: number, limit?: number) {
  const first = await changesSince(s.db, tenantId, since, limit);
  if (first !== undefined) return first;
  return changesSince(s.db, tenantId, since, limit);
}

/** A delta frame serialised once for every connection of a tenant. */
interface EncodedDelta {
  from: number;
  to: number;
  bytes: Buffer;
}

/** Encodes changes as delta frames of at most {@link MAX_DELTA_PER_FRAME} changes. */
function encodeDeltas(
  from: number,
  changes: Awaited<ReturnType<typeof changesSince>> & object,
): EncodedDelta[] {
  const out: EncodedDelta[] = [];
  for (let i = 0; i < changes.length; i += MAX_DELTA_PER_FRAME) {
    const part = changes.slice(i, i + MAX_DELTA_PER_FRAME);
    const to = part.at(-1)!.revision;
    const frame: ServerFrame = {
      v: 1,
      type: 'delta',
      from_revision: from,
      revision: to,
      changes: part,
    };
    out.push({ from, to, bytes: Buffer.from(JSON.stringify(frame)) });
    from = to;
  }
  return out;
}

class ChannelConnection {
  #queue: Promise<void> = Promise.resolve();
  /** Highest revision sent (or being sent); -1 until the hello has been answered. */
  #sent = -1;
  #missedPongs = 0;
  #helloDone = false;

  constructor(
    readonly ws: WebSocket,
    readonly instanceId: string,
    readonly tenantId: string,
    private readonly s: Services,
    private readonly opts: Required<SidecarChannelOptions>,
  ) {}

  send(frame: ServerFrame): Promise<void> {
    return this.#sendText(JSON.stringify(frame));
  }

  /** Sends a text frame (a string, or the UTF-8 bytes of one encoded once for many sockets). */
  #sendText(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== this.ws.OPEN) return reject(new Error('socket closed'));
      this.ws.send(data, { binary: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Highest revision sent, or -1 before the hello was answered (for the tenant fan-out). */
  get sent(): number {
    return this.#helloDone ? this.#sent : -1;
  }

  /**
   * Sends deltas the tenant fan-out encoded once for every socket. Each applies only if it
   * continues from what this socket has; a socket that is elsewhere (it was mid-snapshot,
   * or behind) skips what it already has and reads its own changes for the rest.
   */
  async sendEncoded(deltas: readonly EncodedDelta[]) {
    if (!this.#helloDone || this.#sent < 0) return;
    for (const d of deltas) {
      if (this.#sent >= d.to) continue;
      if (this.#sent !== d.from) return this.catchUp();
      this.#sent = d.to;
      await this.#sendText(d.bytes);
      await this.#drain();
    }
  }

  async #drain() {
    for (let i = 0; i < 600 && this.ws.bufferedAmount > this.opts.highWaterBytes; i++) {
      if (this.ws.readyState !== this.ws.OPEN) throw new Error('socket closed');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Serialises work per socket, so frames never interleave (a delta inside a snapshot). */
  enqueue(job: () => Promise<void>) {
    this.#queue = this.#queue.then(job).catch((err) => {
      if (this.ws.readyState === this.ws.OPEN) {
        this.s.log.warn(
          { err: (err as Error).message, instance_id: this.instanceId },
          'sidecar channel job failed; closing',
        );
        this.ws.close(1011, 'internal error');
      }
    });
    return this.#queue;
  }

  async hello(since: number, version: string, entries: number | undefined) {
    const { db, now } = this.s;
    await db
      .updateTable('instances')
      .set({ sidecar_version: version, last_seen_at: now() })
      .where('id', '=', this.instanceId)
      .execute();
    const revision = await currentRevision(this.s, this.tenantId);
    await this.send({
      v: 1,
      type: 'welcome',
      instance_id: this.instanceId,
      tenant_id: this.tenantId,
      revision,
    });
    this.#helloDone = true;
    if (
      since === revision &&
      (entries === undefined || entries === (await entryCount(this.s, this.tenantId)))
    ) {
      this.#sent = revision;
      return;
    }
    // Same revision but a different set (e.g. the server's database was restored from a
    // backup and revisions were handed out again): only a snapshot can repair that.
    const changes =
      since > 0 && since < revision ? await changesSince(db, this.tenantId, since) : undefined;
    if (changes) {
      this.#sent = since;
      await this.#sendChanges(changes);
      // Catch anything committed while we read.
      await this.catchUp();
    } else {
      await this.snapshot();
    }
  }

  async #sendChanges(changes: Awaited<ReturnType<typeof changesSince>> & object) {
    for (let i = 0; i < changes.length; i += MAX_DELTA_PER_FRAME) {
      const part = changes.slice(i, i + MAX_DELTA_PER_FRAME);
      const to = part.at(-1)!.revision;
      await this.send({
        v: 1,
        type: 'delta',
        from_revision: this.#sent,
        revision: to,
        changes: part,
      });
      this.#sent = to;
      await this.#drain();
    }
  }

  /** Sends changes after what this socket has, if any (called when a commit is announced). */
  async catchUp() {
    if (!this.#helloDone || this.#sent < 0) return;
    for (let round = 0; round < 1000; round++) {
      const changes = await readChanges(this.s, this.tenantId, this.#sent);
      if (changes === undefined) return this.snapshot();
      if (changes.length === 0) return;
      await this.#sendChanges(changes);
    }
  }

  /**
   * Streams every entry in chunks, then `snapshot_end` with the revision read before the
   * stream and the checksum of exactly what was streamed; then the changes made meanwhile.
   * No transaction is held open while a slow socket drains.
   */
  async snapshot() {
    const { db } = this.s;
    const revision = await currentRevision(this.s, this.tenantId);
    const total = await db
      .selectFrom('blacklist_entries')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirstOrThrow();
    await this.send({ v: 1, type: 'snapshot_begin', revision, total: Number(total.n) });
    const streamed: SyncEntry[] = [];
    let after = '';
    for (let i = 0; i < 100_000; i++) {
      const rows = await db
        .selectFrom('blacklist_entries')
        .select(['id', 'platform', 'platform_user_id', 'reason', 'expires_at'])
        .where('tenant_id', '=', this.tenantId)
        .where('id', '>', after)
        .orderBy('id', 'asc')
        .limit(this.opts.snapshotChunkSize)
        .execute();
      if (rows.length === 0) break;
      const entries = rows.map(toSyncEntry);
      for (const e of entries) streamed.push(e);
      await this.send({ v: 1, type: 'snapshot_chunk', entries });
      await this.#drain();
      after = rows.at(-1)!.id;
    }
    await this.send({
      v: 1,
      type: 'snapshot_end',
      revision,
      checksum: blacklistChecksum(streamed),
    });
    this.#sent = revision;
    await this.catchUp();
  }

  ping() {
    if (this.#missedPongs >= 2) {
      this.ws.terminate();
      return;
    }
    this.#missedPongs++;
    void this.send({ v: 1, type: 'ping', ts: this.s.now() }).catch(() => {});
  }

  pong() {
    this.#missedPongs = 0;
  }
}

async function entryCount(s: Services, tenantId: string) {
  const r = await s.db
    .selectFrom('blacklist_entries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

async function currentRevision(s: Services, tenantId: string) {
  const r = await s.db
    .selectFrom('blacklist_revisions')
    .select('revision')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return r ? Number(r.revision) : 0;
}

/**
 * Sends each committed change of one tenant to all its connected sidecars: the change rows
 * are read once and each delta frame is serialised once, whatever the number of sockets
 * (reading and encoding per socket made a commit cost O(sockets) queries on the server).
 * Broadcasts run one at a time per tenant, in commit order.
 */
class TenantFanout {
  #queue: Promise<void> = Promise.resolve();
  /** A broadcast is queued and has not started reading: a new commit needs no other. */
  #queued = false;
  /** The revision the last broadcast reached; the next reads from there. */
  #cursor: number | undefined;

  constructor(
    readonly tenantId: string,
    readonly conns: Set<ChannelConnection>,
    private readonly s: Services,
  ) {}

  changed() {
    if (this.#queued) return;
    this.#queued = true;
    this.#queue = this.#queue
      .then(() => {
        this.#queued = false;
        return this.#broadcast();
      })
      .catch((err) => {
        this.s.log.warn(
          { err: (err as Error).message, tenant_id: this.tenantId },
          'sidecar channel fan-out failed; each connection catches up by itself',
        );
        this.#cursor = undefined;
        for (const c of this.conns) c.enqueue(() => c.catchUp());
      });
  }

  async #broadcast() {
    let from = this.#cursor ?? -1;
    // Start from the most advanced socket: the others (if any) catch up by themselves.
    if (this.#cursor === undefined) for (const c of this.conns) if (c.sent > from) from = c.sent;
    if (from < 0) return;
    const deltas: EncodedDelta[] = [];
    for (let round = 0; round < 1000; round++) {
      const changes = await readChanges(this.s, this.tenantId, from, FANOUT_READ_LIMIT);
      if (changes === undefined) {
        // The log no longer reaches back to `from` (or a commit landed between its two
        // reads): let each socket decide for itself, as before the fan-out existed.
        this.#cursor = undefined;
        for (const c of this.conns) c.enqueue(() => c.catchUp());
        return;
      }
      if (changes.length > 0) {
        const encoded = encodeDeltas(from, changes);
        for (const d of encoded) deltas.push(d);
        from = encoded.at(-1)!.to;
      }
      if (changes.length < FANOUT_READ_LIMIT) break;
    }
    this.#cursor = from;
    if (deltas.length === 0) return;
    for (const c of this.conns) c.enqueue(() => c.sendEncoded(deltas));
  }
}

/**
 * Instances' acknowledged revisions, written in one UPDATE per revision every
 * {@link ACK_FLUSH_MS} instead of one per ack (every sidecar acks every change).
 */
class AckWriter {
  #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(private readonly s: Services) {}

  ack(instanceId: string, revision: number) {
    const prev = this.#pending.get(instanceId);
    if (prev === undefined || prev < revision) this.#pending.set(instanceId, revision);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, ACK_FLUSH_MS);
  }

  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return this.#flushing;
    const batch = this.#pending;
    this.#pending = new Map();
    const byRevision = new Map<number, string[]>();
    for (const [id, rev] of batch) {
      const ids = byRevision.get(rev);
      if (ids) ids.push(id);
      else byRevision.set(rev, [id]);
    }
    this.#flushing = this.#flushing.then(async () => {
      const { db, now } = this.s;
      const at = now();
      for (const [revision, ids] of byRevision)
        for (let i = 0; i < ids.length; i += 500)
          await db
            .updateTable('instances')
            .set({ applied_revision: revision, applied_at: at, last_seen_at: at })
            .where('id', 'in', ids.slice(i, i + 500))
            .where('applied_revision', '<', revision)
            .execute()
            .catch((err: unknown) =>
              this.s.log.warn({ err: (err as Error).message }, 'could not record sidecar acks'),
            );
    });
    return this.#flushing;
  }
}

export function attachSidecarChannel(
  server: Server,
  s: Services,
  options: SidecarChannelOptions = {},
): SidecarChannel {
  const opts: Required<SidecarChannelOptions> = {
    snapshotChunkSize: options.snapshotChunkSize ?? 2000,
    pingIntervalMs: options.pingIntervalMs ?? 30_000,
    highWaterBytes: options.highWaterBytes ?? 4 * 1024 * 1024,
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const byTenant = new Map<string, TenantFanout>();
  const acks = new AckWriter(s);
  let closing = false;

  const unsubscribe = s.events.bus.subscribe((e) => {
    if (e.type !== 'blacklist.changed') return;
    byTenant.get(e.tenantId)?.changed();
  });

  const setConnected = async (instanceId: string, delta: 1 | -1) => {
    const row = await s.db
      .selectFrom('instances')
      .select('connected')
      .where('id', '=', instanceId)
      .executeTakeFirst();
    if (!row) return;
    const next = Math.max(0, Number(row.connected) + delta);
    await s.db
      .updateTable('instances')
      .set({ connected: next, ...(delta > 0 ? { connected_at: s.now() } : {}) })
      .where('id', '=', instanceId)
      .execute();
  };

  const accept = (ws: WebSocket, instanceId: string, tenantId: string) => {
    const conn = new ChannelConnection(ws, instanceId, tenantId, s, opts);
    let fanout = byTenant.get(tenantId);
    if (!fanout) {
      fanout = new TenantFanout(tenantId, new Set(), s);
      byTenant.set(tenantId, fanout);
    }
    const set = fanout.conns;
    set.add(conn);
    void setConnected(instanceId, 1).catch(() => {});
    const timer = setInterval(() => conn.ping(), opts.pingIntervalMs);
    timer.unref();
    let helloSeen = false;
    const skippedTypes = new Set<string>();
    const protocolError = (reason: string) => {
      s.log.warn({ instance_id: instanceId, reason }, 'sidecar channel protocol error');
      ws.close(CONTROL_CLOSE_CODES.protocolError, reason.slice(0, 120));
    };
    ws.on('message', (data, isBinary) => {
      if (isBinary) return protocolError('binary frames are not part of the protocol');
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        return protocolError('frame is not JSON');
      }
      const v = (parsed as { v?: unknown } | null)?.v;
      if (v !== CONTROL_PROTOCOL_VERSION)
        return protocolError(`unsupported protocol version ${JSON.stringify(v ?? null)}`);
      const r = SidecarFrame.safeParse(parsed);
      if (!r.success) {
        // A newer sidecar may send kinds of frame this server does not know yet: skip them
        // (logged once per connection and type) instead of dropping its blacklist sync.
        const unknownType = unknownControlFrameType(parsed, SIDECAR_FRAME_TYPES);
        if (unknownType !== undefined) {
          // Bounded: a misbehaving peer cannot grow it (or the log) without limit.
          if (!skippedTypes.has(unknownType) && skippedTypes.size < 32) {
            skippedTypes.add(unknownType);
            s.log.warn(
              { instance_id: instanceId, frame_type: unknownType },
              'ignoring a control frame type this server does not know',
            );
          }
          return;
        }
        return protocolError(
          `invalid frame: ${r.error.issues[0]?.path.join('.') || 'type'} ${r.error.issues[0]?.message ?? ''}`,
        );
      }
      const f = r.data;
      switch (f.type) {
        case 'hello':
          if (helloSeen) return protocolError('hello sent twice');
          helloSeen = true;
          conn.enqueue(() => conn.hello(f.since, f.version, f.entries));
          return;
        case 'ack':
          acks.ack(instanceId, f.revision);
          return;
        case 'resync':
          s.log.info({ instance_id: instanceId, reason: f.reason }, 'sidecar asked for a resync');
          conn.enqueue(() => conn.snapshot());
          return;
        case 'pong':
          conn.pong();
          return;
      }
    });
    ws.on('pong', () => conn.pong());
    ws.on('error', () => {});
    ws.on('close', () => {
      clearInterval(timer);
      set.delete(conn);
      if (set.size === 0 && byTenant.get(tenantId) === fanout) byTenant.delete(tenantId);
      if (!closing) void setConnected(instanceId, -1).catch(() => {});
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return;
    }
    if (url.pathname !== SIDECAR_CHANNEL_PATH) {
      // The realtime endpoint has its own listener; any other path gets a clear 404.
      if (url.pathname !== '/v1/realtime') {
        refuseUpgrade(
          socket,
          new ApiError('route_not_found', `No WebSocket endpoint at ${url.pathname}`),
          newId('request'),
        );
      }
      return;
    }
    const requestId = newId('request');
    socket.on('error', () => {});
    void (async () => {
      try {
        if (closing) throw new ApiError('service_unavailable', 'The server is shutting down');
        const token =
          bearerToken(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined;
        if (!token)
          throw new ApiError(
            'unauthenticated',
            'Send the instance token as "Authorization: Bearer <token>"',
          );
        const { principal, tenantStatus } = await resolvePrincipal(s, token);
        if (principal.kind !== 'instance')
          throw new ApiError('forbidden', 'The control channel takes an instance token');
        if (tenantStatus !== 'active')
          throw new ApiError('tenant_not_active', `This tenant is ${tenantStatus}`);
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, principal.id, principal.tenantId));
      } catch (err) {
        refuseUpgrade(socket, toApiError(err), requestId);
      }
    })();
  };
  server.on('upgrade', onUpgrade);

  let closed: Promise<void> | undefined;
  return {
    connections() {
      const out = new Map<string, number>();
      for (const { conns } of byTenant.values())
        for (const c of conns) out.set(c.instanceId, (out.get(c.instanceId) ?? 0) + 1);
      return out;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        server.off('upgrade', onUpgrade);
        unsubscribe();
        await acks.flush();
        const all = [...byTenant.values()].flatMap(({ conns }) => [...conns]);
        for (const c of all) c.ws.close(CONTROL_CLOSE_CODES.serverShutdown, 'server shutting down');
        // The rows' online flags go back to 0: a restarted server has no channels yet.
        const ids = [...new Set(all.map((c) => c.instanceId))];
        if (ids.length)
          await s.db
            .updateTable('instances')
            .set({ connected: 0 })
            .where('id', 'in', ids)
            .execute()
            .catch(() => {});
        await new Promise<void>((r) => wss.close(() => r()));
      })();
      return closed;
    },
  };
}

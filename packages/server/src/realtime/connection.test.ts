/** The ordering rules of one socket, with a scripted log and socket (no network, no timing). */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { EventLog, LoggedEvent } from '../infra/events/index.js';
import type { Viewer } from './auth.js';
import { Connection } from './connection.js';
import { type RealtimeOptions, resolveOptions } from './options.js';
import { waitUntil } from './testing.js';

const T = 'tnt_a';
const ev = (seq: number, visibility: 'all' | 'admin' = 'all', tenantId = T): LoggedEvent => ({
  tenantId,
  seq,
  id: `evt_${seq}`,
  type: 'message.created',
  data: { seq },
  visibility,
  createdAt: 0,
});

class FakeSocket {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: Array<Record<string, unknown>> = [];
  closedWith: { code: number; reason: string } | undefined;
  /** Bytes each event frame leaves queued (a client that reads slowly). */
  bytesPerSend = 0;
  send(data: Buffer | string) {
    const frame = JSON.parse(String(data)) as Record<string, unknown>;
    this.sent.push(frame);
    if (frame.type === 'event') this.bufferedAmount += this.bytesPerSend;
  }
  close(code: number, reason: string) {
    this.closedWith = { code, reason };
    this.readyState = 2;
  }
  terminate() {
    this.readyState = 3;
  }
  ping() {}
  get seqs() {
    return this.sent.flatMap((f) => (f.type === 'event' ? [(f.event as { seq: number }).seq] : []));
  }
}

/** A log whose reads can be held back, to let live events arrive mid-replay. */
class FakeLog {
  events: LoggedEvent[] = [];
  reads = 0;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  hold() {
    this.#gate = new Promise((r) => {
      this.#open = r;
    });
  }
  release() {
    this.#open?.();
    this.#gate = undefined;
  }
  add(...seqs: number[]) {
    for (const s of seqs) this.events.push(ev(s));
    this.events.sort((x, y) => x.seq - y.seq);
  }
  async lastSeq() {
    return this.events.at(-1)?.seq ?? 0;
  }
  async firstSeq() {
    return this.events[0]?.seq ?? 0;
  }
  async read(_t: string, after: number, limit: number) {
    this.reads++;
    if (this.#gate) await this.#gate;
    return this.events.filter((e) => e.seq > after).slice(0, limit);
  }
}

function setup(
  opts: RealtimeOptions = {},
  viewer: Partial<Viewer> = {},
): { ws: FakeSocket; log: FakeLog; conn: Connection; counts: string[] } {
  const ws = new FakeSocket();
  const log = new FakeLog();
  const counts: string[] = [];
  const conn = new Connection(
    ws as unknown as WebSocket,
    {
      kind: 'api_key',
      id: 'key_1',
      tenantId: T,
      credentialId: 'key_1',
      memberId: undefined,
      canSeeAdmin: false,
      ...viewer,
    },
    {
      events: log as unknown as EventLog,
      opts: resolveOptions({ REALTIME_RESUME_WINDOW: 100 } as never, {
        replayPageSize: 2,
        ...opts,
      }),
      log: pino({ level: 'silent' }),
      frameOf: (e) => Buffer.from(JSON.stringify({ type: 'event', event: { seq: e.seq } })),
      count: (w) => counts.push(w),
    },
  );
  return { ws, log, conn, counts };
}

describe('Connection ordering', () => {
  it('fills a gap from the log and drops duplicates (out-of-order arrival across replicas)', async () => {
    const { ws, log, conn } = setup();
    log.add(1, 2);
    await conn.start(undefined);
    expect(ws.sent[0]).toMatchObject({ type: 'ready', last_seq: 2 });
    log.add(3, 4, 5);
    conn.onLive(ev(5)); // 3 and 4 were published by another replica and are still in flight
    await waitUntil(() => ws.seqs.length === 3, 'gap filled');
    conn.onLive(ev(3));
    conn.onLive(ev(4));
    conn.onLive(ev(5));
    log.add(6);
    conn.onLive(ev(6));
    expect(ws.seqs).toEqual([3, 4, 5, 6]);
  });

  it('queues live events during a replay and delivers each once, in order', async () => {
    const { ws, log, conn } = setup();
    log.add(1, 2, 3, 4, 5);
    log.hold();
    const started = conn.start(1);
    await waitUntil(() => log.reads > 0, 'replay started');
    log.add(6, 7);
    conn.onLive(ev(7));
    conn.onLive(ev(6));
    conn.onLive(ev(5));
    log.release();
    await started;
    expect(ws.seqs).toEqual([2, 3, 4, 5, 6, 7]);
    expect(ws.sent.filter((f) => f.type === 'resync_required')).toEqual([]);
  });

  it('skips events the viewer may not see without leaving a gap', async () => {
    const { ws, conn } = setup();
    await conn.start(undefined);
    conn.onLive(ev(1));
    conn.onLive(ev(2, 'admin'));
    conn.onLive(ev(3));
    conn.onLive(ev(4, 'all', 'tnt_other'));
    expect(ws.seqs).toEqual([1, 3]);
    const admin = setup({}, { canSeeAdmin: true });
    await admin.conn.start(undefined);
    admin.conn.onLive(ev(1));
    admin.conn.onLive(ev(2, 'admin'));
    expect(admin.ws.seqs).toEqual([1, 2]);
  });

  it('answers resync_required for a resume beyond the window, trimmed log or ahead of it', async () => {
    const w = setup({ resumeWindow: 3 });
    w.log.add(1, 2, 3, 4, 5, 6);
    await w.conn.start(1);
    expect(w.ws.sent[1]).toEqual({
      type: 'resync_required',
      reason: 'window_exceeded',
      last_seq: 6,
    });
    w.conn.onLive(ev(7));
    expect(w.ws.seqs).toEqual([7]);

    const trimmed = setup();
    trimmed.log.add(4, 5);
    await trimmed.conn.start(2);
    expect(trimmed.ws.sent[1]).toMatchObject({ reason: 'log_trimmed', last_seq: 5 });

    const ahead = setup();
    ahead.log.add(1);
    await ahead.conn.start(9);
    expect(ahead.ws.sent[1]).toMatchObject({ reason: 'ahead_of_log', last_seq: 1 });

    const exact = setup();
    exact.log.add(1, 2);
    await exact.conn.start(1);
    expect(exact.ws.sent.map((f) => f.type)).toEqual(['ready', 'event']);
  });

  it('closes 4008 when the send buffer is over the limit', async () => {
    const { ws, conn, counts } = setup({ maxBufferedBytes: 100 });
    await conn.start(undefined);
    conn.onLive(ev(1));
    ws.bufferedAmount = 101;
    conn.onLive(ev(2));
    expect(ws.seqs).toEqual([1]);
    expect(ws.closedWith).toEqual({ code: 4008, reason: 'slow consumer: reconnect with last_seq' });
    expect(counts).toEqual(['slowConsumer']);
  });

  it('closes 4008 when too many live events pile up during a replay', async () => {
    const { ws, log, conn } = setup({ maxPendingEvents: 3 });
    log.add(1, 2, 3);
    log.hold();
    const started = conn.start(0);
    await waitUntil(() => log.reads > 0, 'replay started');
    for (const s of [4, 5, 6, 7]) conn.onLive(ev(s));
    expect(ws.closedWith?.code).toBe(4008);
    log.release();
    await started;
    expect(ws.seqs).toEqual([]);
  });

  it('paces a replay by the socket instead of overflowing it', async () => {
    const { ws, log, conn } = setup({ maxBufferedBytes: 1000, replayPageSize: 10 });
    log.add(...Array.from({ length: 20 }, (_, i) => i + 1));
    ws.bytesPerSend = 300;
    const started = conn.start(0);
    // Two frames (600 bytes) put it over half the limit: the replay waits for the client.
    for (let delivered = 2; delivered <= 20; delivered += 2) {
      await waitUntil(() => ws.seqs.length === delivered, `${delivered} delivered`);
      await new Promise((r) => setTimeout(r, 20));
      expect(ws.seqs.length).toBe(delivered);
      ws.bufferedAmount = 0; // the client read everything
    }
    await started;
    expect(ws.seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(ws.closedWith).toBeUndefined();
  });

  it('closes 4008 when a replay cannot drain in time', async () => {
    const { ws, log, conn } = setup({ maxBufferedBytes: 1000, drainTimeoutMs: 30 });
    log.add(1, 2, 3, 4, 5);
    ws.bytesPerSend = 600;
    await conn.start(0);
    expect(ws.seqs).toEqual([1]);
    expect(ws.closedWith?.code).toBe(4008);
  });
});

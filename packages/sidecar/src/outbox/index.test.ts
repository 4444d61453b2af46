import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SidecarEvent } from '@astrdesk/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpPost, nodeHttpPost } from '../infra/http-client.js';
import {
  FakeIngestServer,
  INSTANCE_TOKEN,
  tempDir,
  testLogger,
  waitFor,
} from '../test-utils/index.js';
import { Outbox, type OutboxOptions } from './index.js';
import { classifyResponse } from './sender.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(over: Partial<OutboxOptions> = {}, ingest?: FakeIngestServer) {
  const server = ingest ?? (await FakeIngestServer.start());
  if (!ingest) cleanups.push(() => server.close());
  server.token = INSTANCE_TOKEN;
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = path.join(dir, 'outbox.db');
  const opts: OutboxOptions = {
    serverUrl: server.url,
    token: INSTANCE_TOKEN,
    version: 'test',
    log: testLogger(),
    flushMs: 2,
    minIntervalMs: 0,
    intervalMs: 30,
    retryMinMs: 5,
    retryMaxMs: 50,
    ...over,
  };
  let outbox = Outbox.open(file, opts);
  cleanups.push(() => outbox.close());
  return {
    server,
    get outbox() {
      return outbox;
    },
    file,
    async reopen(extra: Partial<OutboxOptions> = {}) {
      await outbox.close();
      outbox = Outbox.open(file, { ...opts, ...extra });
      return outbox;
    },
  };
}

const inbound = (n: number, session = `s${n % 3}`) => ({
  platform: 'qq',
  platform_user_id: `u${n}`,
  platform_message_id: `m${n}`,
  session_id: session,
  kind: 'text',
  text: `message ${n}`,
  sent_at: '2026-01-01T10:00:00.000Z',
});

describe('Outbox', () => {
  it('writes rows with stable time-ordered ids and valid event JSON', async () => {
    const { outbox } = await setup();
    const a = await outbox.append('message.inbound', 's1', inbound(1), Date.UTC(2026, 0, 1));
    const b = await outbox.append('message.inbound', 's1', inbound(2), Date.UTC(2026, 0, 1));
    expect(a).toMatch(/^sc_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(b > a).toBe(true);
    const rows = outbox.rows();
    expect(rows.map((r) => r.id)).toEqual([a, b]);
    const ev = SidecarEvent.parse(JSON.parse(rows[0]!.payload));
    expect(ev).toMatchObject({
      id: a,
      type: 'message.inbound',
      occurred_at: '2026-01-01T00:00:00.000Z',
    });
    expect(outbox.depth).toBe(2);
  });

  it('stores the payload as UTF-8 text, and sends exactly those bytes', async () => {
    const { outbox, server } = await setup();
    const text = '我想申请退款 ✓ \u{1F600} "quoted" \\ end';
    const id = await outbox.append('message.inbound', 's1', { ...inbound(1), text });
    const [row] = outbox.rows();
    expect(typeof row!.payload).toBe('string');
    expect(JSON.parse(row!.payload).data.text).toBe(text);
    expect(outbox.db.prepare('SELECT typeof(payload) FROM outbox').pluck().get()).toBe('text');
    outbox.start();
    await outbox.drain();
    expect(server.accepted.map((e) => [e.id, (e.data as { text?: string }).text])).toEqual([
      [id, text],
    ]);
  });

  it('delivers in order and deletes rows only after the 2xx', async () => {
    const { outbox, server } = await setup({ batchSize: 3 });
    outbox.start();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      ids.push(await outbox.append('message.inbound', `s${i % 3}`, inbound(i)));
    await waitFor(() => outbox.depth === 0 && server.accepted.length === 10, { what: 'drained' });
    expect(server.accepted.map((e) => e.id)).toEqual(ids);
    expect(Math.max(...server.batches.map((b) => b.length))).toBeLessThanOrEqual(3);
    expect(outbox.rows()).toHaveLength(0);
    expect(outbox.stats.sent).toBe(10);
  });

  it('keeps everything while the server is down and drains in order with no duplicates when it is back', async () => {
    const { outbox, server } = await setup({ batchSize: 4 });
    await server.stop();
    outbox.start();
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      ids.push(await outbox.append('message.inbound', `s${i % 4}`, inbound(i, `s${i % 4}`)));
      if (i % 5 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor(() => outbox.stats.send_failures > 1, { what: 'failed sends' });
    expect(outbox.depth).toBe(25);
    expect(outbox.oldestAgeSeconds()).toBeGreaterThan(0);
    expect(outbox.rows()[0]!.attempts).toBeGreaterThan(0);
    await server.listen();
    outbox.kick({ urgent: true });
    await waitFor(() => outbox.depth === 0, { what: 'drained', timeoutMs: 10_000 });
    expect(server.accepted.map((e) => e.id)).toEqual(ids);
    for (const n of server.deliveries.values()) expect(n).toBe(1);
    // Per session, the order is the order written.
    for (let s = 0; s < 4; s++) {
      const got = server.accepted.filter(
        (e) => (e.data as { session_id: string }).session_id === `s${s}`,
      );
      expect(got.map((e) => e.id)).toEqual([...got.map((e) => e.id)].sort());
    }
  });

  it('a server that accepts the connection but never answers times out; the rows stay', async () => {
    const silent = http.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    });
    const port = (silent.address() as AddressInfo).port;
    const { outbox } = await setup({
      serverUrl: `http://127.0.0.1:${port}`,
      requestTimeoutMs: 100,
    });
    await outbox.append('message.inbound', 's1', inbound(1));
    outbox.start();
    await waitFor(() => outbox.stats.last_error === 'request timed out', { what: 'timeout' });
    expect(outbox.depth).toBe(1);
    expect(outbox.rows()[0]!.last_error).toBe('request timed out');
  });

  it('names the socket error when nothing listens', async () => {
    const { outbox, server } = await setup();
    await server.stop();
    await outbox.append('message.inbound', 's1', inbound(1));
    outbox.start();
    await waitFor(() => outbox.stats.last_error?.includes('ECONNREFUSED') ?? false, {
      what: 'ECONNREFUSED',
    });
    expect(outbox.depth).toBe(1);
  });

  it('retries 5xx and 429 with backoff and then delivers', async () => {
    const { outbox, server } = await setup();
    server.failWith = 503;
    outbox.start();
    await outbox.append('message.inbound', 's', inbound(1));
    await waitFor(() => server.batches.length >= 3, { what: 'retries' });
    expect(outbox.depth).toBe(1);
    server.failWith = 429;
    await waitFor(() => server.batches.length >= 5, { what: 'more retries' });
    server.failWith = null;
    await waitFor(() => outbox.depth === 0, { what: 'delivered' });
    expect(server.accepted).toHaveLength(1);
    expect(outbox.stats.send_failures).toBeGreaterThan(0);
    expect(outbox.deadLetters).toBe(0);
  });

  it('dead-letters the event a 400 names and delivers the others', async () => {
    const { outbox, server } = await setup();
    server.reject = (e) => (e.data as { text?: string }).text === 'poison';
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push(
        await outbox.append('message.inbound', 's', {
          ...inbound(i),
          ...(i === 3 ? { text: 'poison' } : {}),
        }),
      );
    outbox.start();
    await waitFor(() => outbox.depth === 0, { what: 'drained' });
    expect(server.accepted.map((e) => e.id)).toEqual(ids.filter((_, i) => i !== 3));
    expect(outbox.deadLetters).toBe(1);
    const [dead] = outbox.listDeadLetters();
    expect(dead).toMatchObject({ id: ids[3], status: 400, type: 'message.inbound' });
    expect(dead!.error).toMatch(/HTTP 400 validation_failed.*param events\.3/);
    expect(JSON.parse(dead!.payload).data.text).toBe('poison');
  });

  it('finds the bad event one at a time when a 400 does not name it', async () => {
    const { outbox, server } = await setup();
    server.reject = (e) => (e.data as { text?: string }).text === 'poison';
    server.anonymousRejects = true;
    for (let i = 0; i < 4; i++)
      await outbox.append('message.inbound', 's', {
        ...inbound(i),
        ...(i === 1 ? { text: 'poison' } : {}),
      });
    outbox.start();
    await waitFor(() => outbox.depth === 0, { what: 'drained' });
    expect(server.accepted).toHaveLength(3);
    expect(outbox.deadLetters).toBe(1);
  });

  it('requeues dead letters with their original ids', async () => {
    const { outbox, server } = await setup();
    server.reject = () => true;
    const id = await outbox.append('message.inbound', 's', inbound(1));
    outbox.start();
    await waitFor(() => outbox.deadLetters === 1, { what: 'dead-lettered' });
    server.reject = null;
    expect(outbox.requeueDeadLetters()).toBe(1);
    await waitFor(() => outbox.depth === 0 && server.accepted.length === 1, { what: 'delivered' });
    expect(server.accepted[0]!.id).toBe(id);
    expect(outbox.deadLetters).toBe(0);
  });

  it('survives a restart: rows, ids and order are intact and then delivered', async () => {
    const ctx = await setup();
    await ctx.server.stop();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(await ctx.outbox.append('message.inbound', 's', inbound(i)));
    const again = await ctx.reopen();
    expect(again.depth).toBe(5);
    expect(again.rows().map((r) => r.id)).toEqual(ids);
    await ctx.server.listen();
    again.start();
    await waitFor(() => again.depth === 0, { what: 'drained after restart' });
    expect(ctx.server.accepted.map((e) => e.id)).toEqual(ids);
  });

  it('never resends delivered rows that a crash left unpurged', async () => {
    // The first POST reaches the server; every later one fails: 4 rows delivered, 8 waiting.
    const real = nodeHttpPost();
    let posts = 0;
    const post: HttpPost = async (url, init) => {
      if (++posts > 1)
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return real(url, init);
    };
    const ctx = await setup({ purgeRows: 1_000_000, batchSize: 4, post });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++)
      ids.push(await ctx.outbox.append('message.inbound', 's', inbound(i)));
    ctx.outbox.start();
    await waitFor(() => posts > 1 && ctx.outbox.stats.send_failures > 0, { what: 'a failed POST' });
    expect(ctx.outbox.depth).toBe(8);
    expect(ctx.outbox.rows().map((r) => r.id)).toEqual(ids.slice(4));
    // Delivered, not purged: the 4 rows are still in the table.
    expect(ctx.outbox.db.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(12);
    // The files as kill -9 would leave them, opened by a new process.
    const crash = path.join(path.dirname(ctx.file), 'crash.db');
    for (const ext of ['', '-wal'])
      if (fs.existsSync(ctx.file + ext)) fs.copyFileSync(ctx.file + ext, crash + ext);
    const restarted = Outbox.open(crash, {
      serverUrl: ctx.server.url,
      token: INSTANCE_TOKEN,
      version: 'test',
      log: testLogger(),
      flushMs: 2,
    });
    cleanups.push(() => restarted.close());
    expect(restarted.depth).toBe(8);
    restarted.start();
    const next = await restarted.append('message.inbound', 's', inbound(99));
    await waitFor(() => restarted.depth === 0, { what: 'drained after the restart' });
    expect(ctx.server.accepted.map((e) => e.id)).toEqual([...ids, next]);
    for (const n of ctx.server.deliveries.values()) expect(n).toBe(1);
    // Emptied: only the row at the mark is kept, so a new seq can never fall below it.
    expect(restarted.db.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(1);
    const after = await restarted.append('message.inbound', 's', inbound(100));
    await waitFor(() => restarted.depth === 0, { what: 'one more delivered' });
    expect(ctx.server.accepted.at(-1)?.id).toBe(after);
  });

  it('purges delivered rows in bulk once enough have built up', async () => {
    const { outbox, server } = await setup({ purgeRows: 10, batchSize: 4 });
    for (let i = 0; i < 30; i++) await outbox.append('message.inbound', 's', inbound(i));
    outbox.start();
    await waitFor(() => outbox.depth === 0, { what: 'drained' });
    expect(server.accepted).toHaveLength(30);
    // Batches of 4: purged after 12 and 24 delivered rows, and when the outbox ran empty.
    expect(outbox.stats.purges).toBe(3);
    expect(outbox.db.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(1);
    expect(outbox.rows()).toEqual([]);
  });

  it('under a stream, a batch that is not full waits minIntervalMs after the previous POST; a full one does not', async () => {
    const { outbox, server } = await setup({ minIntervalMs: 1000, batchSize: 3 });
    outbox.start();
    const a = await outbox.append('message.inbound', 's', inbound(0));
    await waitFor(() => server.accepted.length === 1, { what: 'first POST' });
    const firstPostAt = performance.now();
    // Appended right after a POST: they wait for the interval and then go together.
    const partial = [
      await outbox.append('message.inbound', 's', inbound(1)),
      await outbox.append('message.inbound', 's', inbound(2)),
    ];
    await waitFor(() => server.accepted.length === 3, { what: 'second POST', timeoutMs: 10_000 });
    expect(performance.now() - firstPostAt).toBeGreaterThanOrEqual(900);
    // Three at once fill a batch: sent without waiting for the interval, in one POST.
    const full = await Promise.all(
      [1, 2, 3].map((i) => outbox.append('message.inbound', 's', inbound(10 + i))),
    );
    await waitFor(() => server.accepted.length === 6, { what: 'full batch', timeoutMs: 10_000 });
    expect(server.batches.map((b) => b.map((e) => (e as { id: string }).id))).toEqual([
      [a],
      partial,
      full,
    ]);
  });

  it('drain() called while a debounced send is in flight resolves only once the outbox is empty', async () => {
    const real = nodeHttpPost();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const post: HttpPost = async (url, init) => {
      if (++calls === 1) await held;
      return real(url, init);
    };
    const { outbox, server } = await setup({ post, minIntervalMs: 60_000, flushMs: 1 });
    outbox.start();
    await outbox.append('message.inbound', 's', inbound(1));
    await waitFor(() => calls === 1, { what: 'first POST started' });
    await outbox.append('message.inbound', 's', inbound(2));
    const drained = outbox.drain();
    release();
    await drained;
    expect(outbox.depth).toBe(0);
    expect(server.accepted).toHaveLength(2);
  });

  it('a replayed batch (server got it, answer lost) is not duplicated on the receiver', async () => {
    const { outbox, server } = await setup();
    await outbox.append('message.inbound', 's', inbound(1));
    // Deliver once by hand, as if the first answer was lost…
    const row = outbox.rows()[0]!;
    await fetch(`${server.url}/v1/sidecar/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${INSTANCE_TOKEN}`, 'content-type': 'application/json' },
      body: `{"events":[${row.payload}]}`,
    });
    outbox.start();
    await waitFor(() => outbox.depth === 0, { what: 'drained' });
    expect(server.accepted).toHaveLength(1);
    expect(server.deliveries.get(row.id)).toBe(2);
  });

  it('group commit: appends of one tick share one commit, each resolving only once its row is committed', async () => {
    const { outbox } = await setup();
    const db = outbox.db;
    const committed = db.prepare('SELECT count(*) FROM outbox WHERE id = ?').pluck();
    const seenAtResolve: boolean[] = [];
    const appends = Array.from({ length: 25 }, (_, i) =>
      outbox.append('message.inbound', 's', inbound(i)).then((id) => {
        seenAtResolve.push(committed.get(id) === 1);
        return id;
      }),
    );
    // Nothing is answered before the commit.
    expect(outbox.depth).toBe(0);
    expect(db.prepare('SELECT count(*) FROM outbox').pluck().get()).toBe(0);
    const ids = await Promise.all(appends);
    expect(outbox.stats.commits).toBe(1);
    expect(seenAtResolve).toEqual(Array(25).fill(true));
    expect(outbox.depth).toBe(25);
    expect(outbox.rows().map((r) => r.id)).toEqual(ids);
    // The next tick's appends are the next commit, after these (seq order = append order).
    const more = await Promise.all(
      [1, 2].map((i) => outbox.append('message.inbound', 's', inbound(i))),
    );
    expect(outbox.stats.commits).toBe(2);
    expect(outbox.rows().map((r) => r.id)).toEqual([...ids, ...more]);
  });

  it('delivers every row once and in order while appends continue during sends, across a restart', async () => {
    const ctx = await setup({ batchSize: 7 });
    const ids: string[] = [];
    // Rows already waiting at open (sent from a SELECT), then more while sending.
    for (let i = 0; i < 10; i++)
      ids.push(await ctx.outbox.append('message.inbound', 's', inbound(i)));
    const outbox = await ctx.reopen({ batchSize: 7 });
    outbox.start();
    for (let round = 0; round < 8; round++) {
      const more = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          outbox.append('message.inbound', 's', inbound(100 + round * 5 + i)),
        ),
      );
      ids.push(...more);
      await new Promise((r) => setTimeout(r, 3));
    }
    await waitFor(() => outbox.depth === 0 && ctx.server.accepted.length === ids.length, {
      what: 'drained',
    });
    expect(ctx.server.accepted.map((e) => e.id)).toEqual(ids);
    // And again from an empty table: rows sent from memory.
    const later = await Promise.all(
      [1, 2, 3].map((i) => outbox.append('message.inbound', 's', inbound(200 + i))),
    );
    await waitFor(() => ctx.server.accepted.length === ids.length + 3, { what: 'later rows' });
    expect(ctx.server.accepted.slice(-3).map((e) => e.id)).toEqual(later);
    expect(outbox.rows()).toEqual([]);
  });

  it('close commits the rows appended in the current tick before closing the file', async () => {
    const ctx = await setup();
    const pending = [1, 2, 3].map((i) => ctx.outbox.append('message.inbound', 's', inbound(i)));
    const again = await ctx.reopen();
    const ids = await Promise.all(pending);
    expect(again.rows().map((r) => r.id)).toEqual(ids);
  });

  it('synchronous=FULL groups the appends of one tick into one commit', async () => {
    const { outbox, server } = await setup({ synchronous: 'FULL' });
    expect(outbox.db.pragma('synchronous', { simple: true })).toBe(2);
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) => outbox.append('message.inbound', 's', inbound(i))),
    );
    expect(outbox.depth).toBe(20);
    expect(outbox.rows().map((r) => r.id)).toEqual(ids);
    outbox.start();
    await waitFor(() => server.accepted.length === 20, { what: 'delivered' });
    // Every commit is already synced: no background WAL flushing.
    expect(outbox.walFlushes).toBeNull();
  });

  it('synchronous=NORMAL flushes the WAL in the background after commits (walFlushMs: 0 turns it off)', async () => {
    const { outbox, reopen } = await setup();
    expect(outbox.walFlushes).toEqual({ syncs: 0, errors: 0, last_ms: 0, max_ms: 0 });
    await outbox.append('message.inbound', 's', inbound(1));
    await waitFor(() => outbox.walFlushes!.syncs >= 1, { what: 'a WAL flush' });
    expect(outbox.walFlushes!.errors).toBe(0);
    const off = await reopen({ walFlushMs: 0 });
    expect(off.walFlushes).toBeNull();
  });

  it('keeps events while the token is rejected (401 is not the events’ fault)', async () => {
    const { outbox, server } = await setup({ token: 'adi_wrong_token_000000000000' });
    outbox.start();
    await outbox.append('message.inbound', 's', inbound(1));
    await waitFor(() => outbox.stats.last_error?.includes('401'), { what: '401' });
    expect(outbox.depth).toBe(1);
    expect(outbox.deadLetters).toBe(0);
    expect(server.accepted).toHaveLength(0);
  });
});

describe('classifyResponse', () => {
  it('reads the index from param or details', () => {
    const body = (param?: string, index?: number) =>
      JSON.stringify({
        error: {
          code: 'validation_failed',
          message: 'bad',
          ...(param ? { param } : {}),
          ...(index !== undefined ? { details: { index } } : {}),
        },
      });
    expect(classifyResponse(400, body('events.3.data.kind'))).toMatchObject({
      kind: 'rejected',
      index: 3,
    });
    expect(classifyResponse(400, body(undefined, 7))).toMatchObject({ kind: 'rejected', index: 7 });
    expect(classifyResponse(400, body('events'))).toMatchObject({
      kind: 'rejected',
      index: undefined,
    });
    expect(classifyResponse(200, '{"accepted":2}')).toEqual({
      kind: 'sent',
      status: 200,
      accepted: 2,
    });
    expect(classifyResponse(503, '')).toMatchObject({ kind: 'retry_later', loud: false });
    expect(classifyResponse(401, body())).toMatchObject({ kind: 'retry_later', loud: true });
  });
});

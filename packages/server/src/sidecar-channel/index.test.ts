/** The control channel against a real server, with a minimal scripted sidecar client. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blacklistChecksum, type ServerFrame, type SyncEntry } from '@astrdesk/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../config.js';
import { createOperator } from '../operators/index.js';
import { type RunningServer, startServer } from '../server.js';
import { testDatabase } from '../test-utils/index.js';

let srv: RunningServer;
let dropDb: () => Promise<void>;
let owner: string;
let instanceToken: string;
let instanceId: string;

async function http(method: string, p: string, token?: string, body?: unknown) {
  const res = await fetch(`${srv.url}${p}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

async function waitFor<T>(
  fn: () => T | undefined | Promise<T | undefined>,
  what: string,
  tries = 200,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A scripted sidecar: records frames, keeps a set like the real one would, acks deltas. */
class FakeSidecar {
  frames: ServerFrame[] = [];
  set = new Map<string, SyncEntry>();
  revision = 0;
  closed: { code: number; reason: string } | undefined;
  ws: WebSocket;
  #staging: SyncEntry[] | undefined;

  constructor(token: string, since: number, opts: { autoAck?: boolean; hello?: boolean } = {}) {
    this.revision = since;
    this.ws = new WebSocket(`${srv.url.replace('http', 'ws')}/v1/sidecar/connect`, {
      headers: { authorization: `Bearer ${token}` },
    });
    this.ws.on('open', () => {
      if (opts.hello !== false)
        this.ws.send(JSON.stringify({ v: 1, type: 'hello', since, version: 'test/1' }));
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as ServerFrame;
      this.frames.push(f);
      if (f.type === 'snapshot_begin') this.#staging = [];
      if (f.type === 'snapshot_chunk') this.#staging!.push(...f.entries);
      if (f.type === 'snapshot_end') {
        this.set = new Map(this.#staging!.map((e) => [`${e.platform}\0${e.platform_user_id}`, e]));
        this.revision = f.revision;
        if (blacklistChecksum(this.set.values()) !== f.checksum)
          throw new Error('checksum mismatch');
        if (opts.autoAck !== false) this.send({ v: 1, type: 'ack', revision: f.revision });
      }
      if (f.type === 'delta') {
        if (f.from_revision !== this.revision) this.send({ v: 1, type: 'resync', reason: 'gap' });
        for (const c of f.changes) {
          if (c.op === 'upsert')
            this.set.set(`${c.entry.platform}\0${c.entry.platform_user_id}`, c.entry);
          else this.set.delete(`${c.platform}\0${c.platform_user_id}`);
        }
        this.revision = f.revision;
        if (opts.autoAck !== false) this.send({ v: 1, type: 'ack', revision: f.revision });
      }
    });
  }
  send(f: unknown) {
    this.ws.send(typeof f === 'string' ? f : JSON.stringify(f));
  }
  has(platform: string, user: string) {
    return this.set.has(`${platform}\0${user}`);
  }
  close() {
    this.ws.close();
  }
}

beforeAll(async () => {
  const db = testDatabase();
  dropDb = db.drop;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-channel-'));
  srv = await startServer({
    config: loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      LOG_LEVEL: 'silent',
      ASTRDESK_MASTER_KEY: randomBytes(32).toString('base64'),
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    }),
    database: db.handle,
  });
  const op = await createOperator(srv.services.db, 'op');
  const s = await http('POST', '/v1/signup', undefined, {
    company_name: 'Chan',
    contact_name: 'C',
    contact_email: `c${Date.now()}@chan.example`,
    owner_password: 'correct-horse-battery',
  });
  if (s.status !== 201) throw new Error(`signup: ${s.status} ${JSON.stringify(s.body)}`);
  await http('POST', `/v1/admin/tenants/${s.body.tenant.id}/approve`, op.token, {});
  owner = (
    await http('POST', '/v1/auth/login', undefined, {
      email: s.body.tenant.contact_email,
      password: 'correct-horse-battery',
    })
  ).body.token;
  const inst = await http('POST', '/v1/instances', owner, { name: 'bot', platforms: ['qq'] });
  instanceToken = inst.body.token;
  instanceId = inst.body.id;
});
afterAll(async () => {
  await srv?.close();
  await dropDb?.();
});

describe('control channel', () => {
  it('refuses credentials other than an instance token before the upgrade', async () => {
    for (const token of [owner, 'adi_wrong', undefined]) {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(
          `${srv.url.replace('http', 'ws')}/v1/sidecar/connect`,
          token ? { headers: { authorization: `Bearer ${token}` } } : {},
        );
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => {});
      });
      expect(status).toBeGreaterThanOrEqual(401);
      expect(status).toBeLessThanOrEqual(403);
    }
  });

  it('a new sidecar gets a snapshot, then every change live; acks show as sync state', async () => {
    await http('POST', '/v1/blacklist/batch', owner, {
      entries: Array.from({ length: 5 }, (_, i) => ({
        platform: 'qq',
        platform_user_id: `pre-${i}`,
      })),
    });
    const sc = new FakeSidecar(instanceToken, 0);
    await waitFor(() => sc.frames.some((f) => f.type === 'snapshot_end'), 'snapshot');
    expect(sc.frames[0]).toMatchObject({ type: 'welcome', instance_id: instanceId });
    expect(sc.set.size).toBe(5);
    const added = await http('POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'live-1',
      reason: 'spam',
    });
    await waitFor(() => sc.has('qq', 'live-1'), 'live add');
    expect(sc.set.get('qq\0live-1')).toMatchObject({ id: added.body.id, reason: 'spam' });
    await http('DELETE', `/v1/blacklist/${added.body.id}`, owner);
    await waitFor(() => !sc.has('qq', 'live-1'), 'live remove');
    const inst = await waitFor(async () => {
      const r = await http('GET', `/v1/instances/${instanceId}`, owner);
      return r.body.sync.applied_revision === r.body.sync.revision ? r.body : undefined;
    }, 'ack recorded');
    expect(inst.sync).toMatchObject({ online: true, lag: 0, sidecar_version: 'test/1' });
    sc.close();
    await waitFor(
      async () =>
        (await http('GET', `/v1/instances/${instanceId}`, owner)).body.sync.online === false
          ? true
          : undefined,
      'offline',
    );
  });

  it('a reconnecting sidecar gets only the changes after its revision', async () => {
    const first = new FakeSidecar(instanceToken, 0);
    await waitFor(() => first.frames.some((f) => f.type === 'snapshot_end'), 'snapshot');
    const since = first.revision;
    first.close();
    await http('POST', '/v1/blacklist', owner, {
      platform: 'wecom',
      platform_user_id: 'while-away',
    });
    const again = new FakeSidecar(instanceToken, since);
    again.set = new Map(first.set);
    await waitFor(() => again.has('wecom', 'while-away'), 'delta after reconnect');
    expect(again.frames.some((f) => f.type === 'snapshot_begin')).toBe(false);
    const delta = again.frames.find((f) => f.type === 'delta');
    expect(delta).toMatchObject({ from_revision: since, revision: since + 1 });
    again.close();
  });

  it('a gap reported by the sidecar gets a fresh snapshot', async () => {
    const sc = new FakeSidecar(instanceToken, 0);
    await waitFor(() => sc.frames.some((f) => f.type === 'snapshot_end'), 'snapshot');
    sc.send({ v: 1, type: 'resync', reason: 'revision gap' });
    await waitFor(
      () => sc.frames.filter((f) => f.type === 'snapshot_end').length === 2,
      'second snapshot',
    );
    sc.close();
  });

  it('streams a large snapshot in chunks whose checksum matches', async () => {
    await http('POST', '/v1/blacklist/batch', owner, {
      entries: Array.from({ length: 1000 }, (_, i) => ({
        platform: 'telegram',
        platform_user_id: `bulk-${i}`,
      })),
    });
    await http('POST', '/v1/blacklist/batch', owner, {
      entries: Array.from({ length: 1000 }, (_, i) => ({
        platform: 'telegram',
        platform_user_id: `bulk2-${i}`,
      })),
    });
    await http('POST', '/v1/blacklist/batch', owner, {
      entries: Array.from({ length: 1000 }, (_, i) => ({
        platform: 'telegram',
        platform_user_id: `bulk3-${i}`,
      })),
    });
    const sc = new FakeSidecar(instanceToken, 0);
    const end = await waitFor(
      () => sc.frames.find((f) => f.type === 'snapshot_end'),
      'snapshot end',
    );
    expect(sc.frames.filter((f) => f.type === 'snapshot_chunk').length).toBeGreaterThanOrEqual(2);
    expect(end.type === 'snapshot_end' && end.checksum).toBe(blacklistChecksum(sc.set.values()));
    const total = (
      await srv.services.db
        .selectFrom('blacklist_entries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n;
    expect(sc.set.size).toBe(Number(total));
    sc.close();
  });

  it('fans each commit out to every socket of the tenant, in order, once, including one mid-snapshot', async () => {
    const many = Array.from({ length: 12 }, () => new FakeSidecar(instanceToken, 0));
    await waitFor(
      () => many.every((sc) => sc.frames.some((f) => f.type === 'snapshot_end')),
      'snapshots',
    );
    // Commits in quick succession (several may share one broadcast), while another socket
    // is still taking its snapshot.
    const late = new FakeSidecar(instanceToken, 0);
    const posted = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        http('POST', '/v1/blacklist', owner, { platform: 'line', platform_user_id: `fan-${i}` }),
      ),
    );
    expect(posted.every((r) => r.status === 201)).toBe(true);
    const all = [...many, late];
    const server = await srv.services.db
      .selectFrom('blacklist_revisions')
      .select('revision')
      .executeTakeFirstOrThrow();
    const revision = Number(server.revision);
    await waitFor(
      () => all.every((sc) => sc.revision === revision),
      'every socket at the revision',
    );
    const checksum = blacklistChecksum(many[0]!.set.values());
    for (const sc of all) {
      expect(blacklistChecksum(sc.set.values())).toBe(checksum);
      for (let i = 0; i < 10; i++) expect(sc.has('line', `fan-${i}`)).toBe(true);
      // One snapshot each, and the deltas after it chain without a gap or a repeat.
      expect(sc.frames.filter((f) => f.type === 'snapshot_begin')).toHaveLength(1);
      let at = -1;
      for (const f of sc.frames) {
        if (f.type === 'snapshot_end') at = f.revision;
        if (f.type === 'delta') {
          expect(f.from_revision).toBe(at);
          at = f.revision;
        }
      }
      expect(at).toBe(revision);
    }
    // The sockets that were caught up got the same frames.
    const deltas = (sc: FakeSidecar) => JSON.stringify(sc.frames.filter((f) => f.type === 'delta'));
    for (const sc of many) expect(deltas(sc)).toBe(deltas(many[0]!));
    const inst = await waitFor(async () => {
      const r = await http('GET', `/v1/instances/${instanceId}`, owner);
      return r.body.sync.applied_revision === revision ? r.body : undefined;
    }, 'acks recorded');
    expect(inst.sync.lag).toBe(0);
    for (const sc of all) sc.close();
  });

  it('malformed frames close the channel with 1008; the server keeps serving', async () => {
    for (const bad of [
      'not json',
      JSON.stringify({ v: 2, type: 'hello', since: 0, version: 'x' }),
      JSON.stringify({ v: 1, type: 'Not A Type!' }),
      JSON.stringify({ v: 1 }),
      JSON.stringify({ v: 1, type: 'hello', since: -1, version: 'x' }),
    ]) {
      const sc = new FakeSidecar(instanceToken, 0, { hello: false });
      await waitFor(() => sc.ws.readyState === WebSocket.OPEN, 'open');
      sc.send(bad);
      const closed = await waitFor(() => sc.closed, 'close');
      expect(closed.code).toBe(1008);
      expect(closed.reason.length).toBeGreaterThan(0);
    }
    const ok = new FakeSidecar(instanceToken, 0);
    await waitFor(
      () => ok.frames.some((f) => f.type === 'welcome'),
      'healthy channel after bad ones',
    );
    ok.close();
  });
});

describe('a newer sidecar', () => {
  it('sending a well-formed frame of a type this server does not know keeps its channel', async () => {
    const sc = new FakeSidecar(instanceToken, 0);
    await waitFor(() => sc.frames.some((f) => f.type === 'snapshot_end'), 'snapshot');
    sc.send(JSON.stringify({ v: 1, type: 'capabilities', list: ['deliveries'] }));
    sc.send(JSON.stringify({ v: 1, type: 'capabilities', list: ['deliveries'] }));
    // Still in sync: a change made after the unknown frames reaches it.
    await http('POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'after-unknown',
    });
    await waitFor(() => sc.has('qq', 'after-unknown'), 'delta after the unknown frames');
    expect(sc.closed).toBeUndefined();
    sc.close();
  });
});

describe('a sidecar whose set differs at the same revision', () => {
  it('gets a snapshot (e.g. after the server was restored from a backup)', async () => {
    const first = new FakeSidecar(instanceToken, 0);
    await waitFor(() => first.frames.some((f) => f.type === 'snapshot_end'), 'snapshot');
    const revision = first.revision;
    first.close();
    // Same revision as the server, but it claims to hold one entry too many.
    const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/v1/sidecar/connect`, {
      headers: { authorization: `Bearer ${instanceToken}` },
    });
    const frames: ServerFrame[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    ws.on('open', () =>
      ws.send(
        JSON.stringify({
          v: 1,
          type: 'hello',
          since: revision,
          version: 'test',
          entries: first.set.size + 1,
        }),
      ),
    );
    await waitFor(
      () => frames.some((f) => f.type === 'snapshot_end'),
      'snapshot for a mismatched set',
    );
    ws.close();
    // With the right count, nothing is sent beyond the welcome.
    const ok = new FakeSidecar(instanceToken, revision);
    await waitFor(() => ok.frames.some((f) => f.type === 'welcome'), 'welcome');
    expect(ok.frames.some((f) => f.type === 'snapshot_begin')).toBe(false);
    ok.close();
  });
});

/**
 * Routes, methods, bodies and queries of the instances, contacts, conversations, presence,
 * messages, webhook endpoint and blacklist resources, against a scripted server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AstrDeskError, BadRequestError, ConflictError } from './error.js';
import { MessagePage, Page } from './pagination.js';
import {
  envelope,
  type RecordedRequest,
  type ScriptedServer,
  scriptedServer,
  TestClient,
} from './test-utils/scripted-server.js';

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server that answers `{}` (or an empty page for GET lists) to everything. */
async function echo(body: (req: RecordedRequest) => unknown = () => ({})) {
  server = await scriptedServer((req) => ({ status: 200, body: body(req) }));
  return { s: server, client: new TestClient({ baseURL: server.url }) };
}

const call = (r: RecordedRequest) => `${r.method} ${r.url}`;
const json = (r: RecordedRequest) => (r.body === '' ? undefined : JSON.parse(r.body));
const emptyPage = { data: [], next_cursor: null, has_more: false };

describe('instances', () => {
  it('creates, lists, retrieves, updates, rotates the token and deletes', async () => {
    const { s, client } = await echo((r) =>
      r.method === 'GET' && r.url.startsWith('/v1/instances?') ? emptyPage : {},
    );
    await client.instances.create({ name: 'prod-bot-1', platforms: ['qq'] });
    await client.instances.list({ limit: 5 });
    await client.instances.retrieve('inst_1');
    await client.instances.update('inst_1', { name: 'prod-bot-2' });
    await client.instances.rotateToken('inst_1');
    await client.instances.delete('inst_1');
    expect(s.requests.map(call)).toEqual([
      'POST /v1/instances',
      'GET /v1/instances?limit=5',
      'GET /v1/instances/inst_1',
      'PATCH /v1/instances/inst_1',
      'POST /v1/instances/inst_1/rotate-token',
      'DELETE /v1/instances/inst_1',
    ]);
    expect(s.requests.map(json)).toEqual([
      { name: 'prod-bot-1', platforms: ['qq'] },
      undefined,
      undefined,
      { name: 'prod-bot-2' },
      undefined,
      undefined,
    ]);
    for (const r of s.requests.filter((r) => r.method !== 'GET'))
      expect(r.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('contacts', () => {
  it('lists with filters and retrieves', async () => {
    const { s, client } = await echo((r) => (r.url.startsWith('/v1/contacts?') ? emptyPage : {}));
    const page = await client.contacts.list({ platform: 'qq', q: '小王', limit: 10 });
    expect(page).toBeInstanceOf(Page);
    await client.contacts.retrieve('ct_1');
    expect(s.requests.map(call)).toEqual([
      `GET /v1/contacts?platform=qq&q=${encodeURIComponent('小王')}&limit=10`,
      'GET /v1/contacts/ct_1',
    ]);
  });
});

describe('conversations', () => {
  it('lists with every filter; Dates and booleans are serialised', async () => {
    const { s, client } = await echo(() => emptyPage);
    await client.conversations.list({
      state: 'active',
      agent_id: 'usr_1',
      platform: 'wecom',
      contact_id: 'ct_1',
      from: new Date('2026-01-01T00:00:00Z'),
      to: '2026-02-01T00:00:00.000Z',
      unread: true,
      limit: 50,
    });
    const url = new URL(s.requests[0]!.url, 'http://x');
    expect(url.pathname).toBe('/v1/conversations');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      state: 'active',
      agent_id: 'usr_1',
      platform: 'wecom',
      contact_id: 'ct_1',
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-02-01T00:00:00.000Z',
      unread: 'true',
      limit: '50',
    });
  });

  it('posts each lifecycle action to its route with its body', async () => {
    const { s, client } = await echo();
    const c = client.conversations;
    await c.retrieve('conv_1');
    await c.accept('conv_1');
    await c.assign('conv_1', { agent_id: 'usr_2' });
    await c.transfer('conv_1', { to_agent_id: 'usr_3', note: 'billing' });
    await c.decline('conv_1');
    await c.release('conv_1');
    await c.close('conv_1', { reason: 'resolved' });
    await c.close('conv_1');
    await c.reopen('conv_1');
    await c.rate('conv_1', { score: 5, comment: 'great' });
    await c.markRead('conv_1');
    await c.transitions('conv_1');
    expect(s.requests.map((r) => [call(r), json(r)])).toEqual([
      ['GET /v1/conversations/conv_1', undefined],
      ['POST /v1/conversations/conv_1/accept', undefined],
      ['POST /v1/conversations/conv_1/assign', { agent_id: 'usr_2' }],
      ['POST /v1/conversations/conv_1/transfer', { to_agent_id: 'usr_3', note: 'billing' }],
      ['POST /v1/conversations/conv_1/decline', undefined],
      ['POST /v1/conversations/conv_1/release', undefined],
      ['POST /v1/conversations/conv_1/close', { reason: 'resolved' }],
      // The route requires a JSON body even without a reason.
      ['POST /v1/conversations/conv_1/close', {}],
      ['POST /v1/conversations/conv_1/reopen', undefined],
      ['POST /v1/conversations/conv_1/rating', { score: 5, comment: 'great' }],
      ['POST /v1/conversations/conv_1/read', undefined],
      ['GET /v1/conversations/conv_1/transitions', undefined],
    ]);
    expect(() => c.accept('')).toThrow(AstrDeskError);
  });

  it('surfaces an illegal transition as ConflictError with the current state', async () => {
    server = await scriptedServer([
      {
        status: 409,
        body: envelope('invalid_state_transition', 'invalid_request_error', 'no', {
          details: { current_state: 'closed' },
        }),
      },
    ]);
    const client = new TestClient({ baseURL: server.url });
    await expect(client.conversations.release('conv_1')).rejects.toMatchObject({
      constructor: ConflictError,
      code: 'invalid_state_transition',
      details: { current_state: 'closed' },
    });
  });

  it('reads and updates settings, lists presence and sets your own', async () => {
    const { s, client } = await echo();
    await client.conversations.settings.retrieve();
    await client.conversations.settings.update({ auto_assign: true });
    await client.presence.list();
    await client.presence.set({ status: 'away' });
    expect(s.requests.map((r) => [call(r), json(r)])).toEqual([
      ['GET /v1/tenant/settings/conversations', undefined],
      ['PATCH /v1/tenant/settings/conversations', { auto_assign: true }],
      ['GET /v1/presence', undefined],
      ['PUT /v1/presence', { status: 'away' }],
    ]);
  });
});

const msg = (n: number) => ({ id: `msg_${n}`, object: 'message', text: `m${n}` });

describe('conversation messages', () => {
  /** Messages 1..9; pages of `limit` by `cursor` = the rid to go past. */
  function messagesServer(req: RecordedRequest) {
    const url = new URL(req.url, 'http://x');
    const p = url.searchParams;
    const n = Number(p.get('limit') ?? 3);
    const cursor = p.get('cursor');
    const around = p.get('around');
    const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    let data: number[];
    let older: number | null = null;
    let newer: number | null = null;
    if (around) {
      const pivot = Number(around.slice(4));
      data = ids.filter((i) => Math.abs(i - pivot) <= 1);
      older = data[0]! > 1 ? data[0]! : null;
      newer = data.at(-1)! < 9 ? data.at(-1)! : null;
    } else if (p.get('direction') === 'newer') {
      data = ids.filter((i) => cursor === null || i > Number(cursor)).slice(0, n);
      newer = data.at(-1)! < 9 ? data.at(-1)! : null;
    } else {
      data = ids
        .filter((i) => cursor === null || i < Number(cursor))
        .reverse()
        .slice(0, n);
      older = data.at(-1)! > 1 ? data.at(-1)! : null;
    }
    const s = (v: number | null) => (v === null ? null : String(v));
    const next = around || p.get('direction') !== 'newer' ? older : newer;
    return {
      status: 200,
      body: {
        data: data.map(msg),
        has_more: older !== null || newer !== null,
        next_cursor: s(next),
        older_cursor: s(older),
        newer_cursor: s(newer),
      },
    };
  }

  it('pages back from the newest by default, and forward with direction=newer', async () => {
    server = await scriptedServer(messagesServer);
    const client = new TestClient({ baseURL: server.url });
    const ids: string[] = [];
    for await (const m of client.conversations.messages.list('conv_1', { limit: 4 }))
      ids.push(m.id);
    expect(ids).toEqual([
      'msg_9',
      'msg_8',
      'msg_7',
      'msg_6',
      'msg_5',
      'msg_4',
      'msg_3',
      'msg_2',
      'msg_1',
    ]);
    const forward: string[] = [];
    for await (const m of client.conversations.messages.list('conv_1', {
      direction: 'newer',
      limit: 5,
    }))
      forward.push(m.id);
    expect(forward).toEqual([
      'msg_1',
      'msg_2',
      'msg_3',
      'msg_4',
      'msg_5',
      'msg_6',
      'msg_7',
      'msg_8',
      'msg_9',
    ]);
    expect(server.requests.map((r) => r.url)).toEqual([
      '/v1/conversations/conv_1/messages?limit=4',
      '/v1/conversations/conv_1/messages?limit=4&direction=older&cursor=6',
      '/v1/conversations/conv_1/messages?limit=4&direction=older&cursor=2',
      '/v1/conversations/conv_1/messages?direction=newer&limit=5',
      '/v1/conversations/conv_1/messages?limit=5&direction=newer&cursor=5',
    ]);
  });

  it('gives a page around a message with older and newer pages either side', async () => {
    server = await scriptedServer(messagesServer);
    const client = new TestClient({ baseURL: server.url });
    const page = await client.conversations.messages.list('conv_1', { around: 'msg_5', limit: 3 });
    expect(page).toBeInstanceOf(MessagePage);
    expect(page.data.map((m) => m.id)).toEqual(['msg_4', 'msg_5', 'msg_6']);
    expect(page.older_cursor).toBe('4');
    expect(page.newer_cursor).toBe('6');
    expect(page.hasOlderPage() && page.hasNewerPage()).toBe(true);
    const older = await page.getOlderPage();
    expect(older.data.map((m) => m.id)).toEqual(['msg_3', 'msg_2', 'msg_1']);
    expect(older.hasOlderPage()).toBe(false);
    await expect(older.getOlderPage()).rejects.toBeInstanceOf(AstrDeskError);
    const newer = await page.getNewerPage();
    expect(newer.data.map((m) => m.id)).toEqual(['msg_7', 'msg_8', 'msg_9']);
    expect(newer.hasNewerPage()).toBe(false);
    // The next page of an `around` page is the older one; `around` is not sent again.
    const next = await page.getNextPage();
    expect(next).toBeInstanceOf(MessagePage);
    expect(next.data.map((m) => m.id)).toEqual(['msg_3', 'msg_2', 'msg_1']);
    expect(JSON.parse(JSON.stringify(page))).toMatchObject({
      older_cursor: '4',
      newer_cursor: '6',
    });
    expect(server.requests.map((r) => r.url)).toEqual([
      '/v1/conversations/conv_1/messages?around=msg_5&limit=3',
      '/v1/conversations/conv_1/messages?limit=3&direction=older&cursor=4',
      '/v1/conversations/conv_1/messages?limit=3&direction=newer&cursor=6',
      '/v1/conversations/conv_1/messages?limit=3&direction=older&cursor=4',
    ]);
  });

  it('replies and adds internal notes', async () => {
    const { s, client } = await echo(() => ({ message: msg(1), delivery: null }));
    const created = await client.conversations.messages.create('conv_1', { text: '您好' });
    expect(created.message.id).toBe('msg_1');
    await client.conversations.messages.create('conv_1', { text: 'note', internal: true });
    expect(s.requests.map((r) => [call(r), json(r)])).toEqual([
      ['POST /v1/conversations/conv_1/messages', { text: '您好' }],
      ['POST /v1/conversations/conv_1/messages', { text: 'note', internal: true }],
    ]);
  });
});

describe('message search', () => {
  it('is a PagePromise that iterates across pages keeping the filters', async () => {
    server = await scriptedServer((req) => {
      const cursor = new URL(req.url, 'http://x').searchParams.get('cursor');
      return cursor === null
        ? {
            status: 200,
            body: {
              data: [{ ...msg(3), snippet: '<mark>退款</mark>' }],
              next_cursor: 'c1',
              has_more: true,
            },
          }
        : {
            status: 200,
            body: { data: [{ ...msg(1), snippet: null }], next_cursor: null, has_more: false },
          };
    });
    const client = new TestClient({ baseURL: server.url });
    const hits: string[] = [];
    for await (const hit of client.messages.search({
      q: '退款',
      kind: 'text',
      from: new Date('2026-01-01T00:00:00Z'),
      limit: 1,
    }))
      hits.push(hit.id);
    expect(hits).toEqual(['msg_3', 'msg_1']);
    const first = new URL(server.requests[0]!.url, 'http://x');
    expect(first.pathname).toBe('/v1/messages/search');
    expect(Object.fromEntries(first.searchParams)).toEqual({
      q: '退款',
      kind: 'text',
      from: '2026-01-01T00:00:00.000Z',
      limit: '1',
    });
    expect(new URL(server.requests[1]!.url, 'http://x').searchParams.get('q')).toBe('退款');
    expect(new URL(server.requests[1]!.url, 'http://x').searchParams.get('cursor')).toBe('c1');
    const page = await client.messages.search({ q: 'x' });
    expect(page.data[0]!.snippet).toBe('<mark>退款</mark>');
  });
});

describe('webhook endpoints', () => {
  it('maps every method to its route', async () => {
    const { s, client } = await echo((r) =>
      r.method === 'GET' && r.url.includes('?') ? emptyPage : {},
    );
    const w = client.webhookEndpoints;
    await w.create({ url: 'https://crm.example.com/hooks', events: ['message.created'] });
    await w.list({ limit: 2 });
    await w.retrieve('we_1');
    await w.update('we_1', { enabled: false, description: null });
    await w.rotateSecret('we_1');
    await w.deliveries.list('we_1', { status: 'failed' });
    await w.deliveries.retrieve('we_1', 'whd_1');
    await w.deliveries.redeliver('we_1', 'whd_1');
    await w.delete('we_1');
    expect(s.requests.map((r) => [call(r), json(r)])).toEqual([
      [
        'POST /v1/webhook-endpoints',
        { url: 'https://crm.example.com/hooks', events: ['message.created'] },
      ],
      ['GET /v1/webhook-endpoints?limit=2', undefined],
      ['GET /v1/webhook-endpoints/we_1', undefined],
      ['PATCH /v1/webhook-endpoints/we_1', { enabled: false, description: null }],
      ['POST /v1/webhook-endpoints/we_1/rotate-secret', undefined],
      ['GET /v1/webhook-endpoints/we_1/deliveries?status=failed', undefined],
      ['GET /v1/webhook-endpoints/we_1/deliveries/whd_1', undefined],
      ['POST /v1/webhook-endpoints/we_1/deliveries/whd_1/redeliver', undefined],
      ['DELETE /v1/webhook-endpoints/we_1', undefined],
    ]);
    expect(() => w.deliveries.retrieve('we_1', '..')).toThrow(AstrDeskError);
  });
});

describe('blacklist', () => {
  const entry = (n: number) => ({ id: `bl_${n}`, object: 'blacklist_entry', platform: 'qq' });

  it('maps every method to its route; Date expiries are sent as ISO strings', async () => {
    const { s, client } = await echo((r) =>
      r.method === 'GET' && /^\/v1\/blacklist(\/audit)?\?/.test(r.url) ? emptyPage : {},
    );
    const b = client.blacklist;
    const when = new Date('2099-01-01T00:00:00Z');
    await b.create({ platform: 'qq', platform_user_id: '10001', reason: 'spam', expires_at: when });
    await b.create({
      platform: 'wecom',
      platform_user_id: 'zhangsan',
      expires_at: '2099-02-01T00:00:00.000Z',
    });
    await b.batch([
      { platform: 'qq', platform_user_id: '1', expires_at: when },
      { platform: 'qq', platform_user_id: '2' },
    ]);
    await b.remove('bl_1');
    await b.batchRemove({ ids: ['bl_2'], pairs: [{ platform: 'qq', platform_user_id: '3' }] });
    await b.update('bl_1', { reason: null, expires_at: when });
    await b.update('bl_1', { expires_at: null });
    await b.retrieve('bl_1');
    await b.list({
      q: '100',
      platform: 'qq',
      status: 'active',
      operator: 'member:usr_1',
      limit: 5,
    });
    await b.check({ platform: 'qq', user_id: '10001' });
    await b.audit({ entry_id: 'bl_1', platform_user_id: '10001', limit: 2 });
    await b.stats({ from: when, to: '2099-02-01T00:00:00.000Z', limit: 10 });
    await b.stats();
    expect(s.requests.map((r) => [call(r), json(r)])).toEqual([
      [
        'POST /v1/blacklist',
        {
          platform: 'qq',
          platform_user_id: '10001',
          reason: 'spam',
          expires_at: '2099-01-01T00:00:00.000Z',
        },
      ],
      [
        'POST /v1/blacklist',
        { platform: 'wecom', platform_user_id: 'zhangsan', expires_at: '2099-02-01T00:00:00.000Z' },
      ],
      [
        'POST /v1/blacklist/batch',
        {
          entries: [
            { platform: 'qq', platform_user_id: '1', expires_at: '2099-01-01T00:00:00.000Z' },
            { platform: 'qq', platform_user_id: '2' },
          ],
        },
      ],
      ['DELETE /v1/blacklist/bl_1', undefined],
      [
        'POST /v1/blacklist/batch-delete',
        { ids: ['bl_2'], pairs: [{ platform: 'qq', platform_user_id: '3' }] },
      ],
      ['PATCH /v1/blacklist/bl_1', { reason: null, expires_at: '2099-01-01T00:00:00.000Z' }],
      ['PATCH /v1/blacklist/bl_1', { expires_at: null }],
      ['GET /v1/blacklist/bl_1', undefined],
      [
        'GET /v1/blacklist?q=100&platform=qq&status=active&operator=member%3Ausr_1&limit=5',
        undefined,
      ],
      ['GET /v1/blacklist/check?platform=qq&user_id=10001', undefined],
      ['GET /v1/blacklist/audit?entry_id=bl_1&platform_user_id=10001&limit=2', undefined],
      [
        'GET /v1/blacklist/stats?from=2099-01-01T00%3A00%3A00.000Z&to=2099-02-01T00%3A00%3A00.000Z&limit=10',
        undefined,
      ],
      ['GET /v1/blacklist/stats', undefined],
    ]);
    for (const r of s.requests.filter((r) => r.method !== 'GET'))
      expect(r.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(() => b.remove('')).toThrow(AstrDeskError);
    expect(() => b.update('..', { reason: 'x' })).toThrow(AstrDeskError);
    expect(() =>
      b.create({ platform: 'qq', platform_user_id: '1', expires_at: new Date('nope') }),
    ).toThrow(AstrDeskError);
    expect(s.requests).toHaveLength(13);
  });

  it('lists and audits across pages, keeping the filters', async () => {
    server = await scriptedServer((req) => {
      const url = new URL(req.url, 'http://x');
      const first = url.searchParams.get('cursor') === null;
      return {
        status: 200,
        body: first
          ? { data: [entry(3), entry(2)], next_cursor: 'c1', has_more: true }
          : { data: [entry(1)], next_cursor: null, has_more: false },
      };
    });
    const client = new TestClient({ baseURL: server.url });
    const ids: string[] = [];
    for await (const e of client.blacklist.list({ q: '小王', status: 'expired', limit: 2 }))
      ids.push(e.id);
    expect(ids).toEqual(['bl_3', 'bl_2', 'bl_1']);
    const audited: string[] = [];
    for await (const a of client.blacklist.audit({ platform_user_id: '10001', limit: 2 }))
      audited.push(a.id);
    expect(audited).toEqual(['bl_3', 'bl_2', 'bl_1']);
    expect(server.requests.map((r) => r.url)).toEqual([
      `/v1/blacklist?q=${encodeURIComponent('小王')}&status=expired&limit=2`,
      `/v1/blacklist?q=${encodeURIComponent('小王')}&status=expired&limit=2&cursor=c1`,
      '/v1/blacklist/audit?platform_user_id=10001&limit=2',
      '/v1/blacklist/audit?platform_user_id=10001&limit=2&cursor=c1',
    ]);
    const page = await client.blacklist.list();
    expect(page).toBeInstanceOf(Page);
    expect(page.hasNextPage()).toBe(true);
  });

  it('surfaces a duplicate as ConflictError with the existing entry id', async () => {
    server = await scriptedServer([
      {
        status: 409,
        body: envelope('already_exists', 'conflict_error', 'already blacklisted', {
          param: 'platform_user_id',
          details: { entry_id: 'bl_1' },
        }),
      },
    ]);
    const client = new TestClient({ baseURL: server.url });
    await expect(
      client.blacklist.create({ platform: 'qq', platform_user_id: '10001' }),
    ).rejects.toMatchObject({
      constructor: ConflictError,
      code: 'already_exists',
      param: 'platform_user_id',
      details: { entry_id: 'bl_1' },
    });
    expect(server.requests).toHaveLength(1);
  });

  it('leaves the batch size limit to the server', async () => {
    server = await scriptedServer([
      {
        status: 400,
        body: envelope('validation_failed', 'invalid_request_error', 'at most 1000', {
          param: 'entries',
        }),
      },
    ]);
    const client = new TestClient({ baseURL: server.url });
    const entries = Array.from({ length: 1001 }, (_, i) => ({
      platform: 'qq' as const,
      platform_user_id: `u${i}`,
    }));
    await expect(client.blacklist.batch(entries)).rejects.toMatchObject({
      constructor: BadRequestError,
      code: 'validation_failed',
      param: 'entries',
    });
    expect(server.requests).toHaveLength(1);
    expect(json(server.requests[0]!).entries).toHaveLength(1001);
  });
});

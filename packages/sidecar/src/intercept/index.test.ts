import { InterceptResponse, SidecarEvent } from '@astrdesk/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningSidecar, startSidecar } from '../index.js';
import {
  API_TOKEN,
  entry,
  FakeControlServer,
  INSTANCE_TOKEN,
  interceptBody,
  post,
  tempDir,
  testConfig,
  waitFor,
} from '../test-utils/index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A sidecar synced from a fake control server holding the given entries; no ingest server. */
async function sidecarWith(entries: ReturnType<typeof entry>[], now?: () => number) {
  const control = await FakeControlServer.start({ token: INSTANCE_TOKEN });
  cleanups.push(() => control.close());
  control.commit(...entries.map((e) => ({ upsert: e })));
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  // The sender stays off, so the events stay in the outbox for inspection.
  const sc = await startSidecar(testConfig(control.url, dir), {
    connect: false,
    ...(now ? { now } : {}),
  });
  cleanups.push(() => sc.close());
  sc.channel.start();
  await waitFor(() => sc.cache.revision === control.revision, { what: 'synced' });
  return { sc, control };
}

const intercept = (sc: RunningSidecar, body: unknown, token: string | null = API_TOKEN) =>
  post(`${sc.url}/astrbot-api/v1/messages/intercept`, body, token);

const events = (sc: RunningSidecar) =>
  sc.outbox.rows().map((r) => ({ row: r, event: SidecarEvent.parse(JSON.parse(r.payload)) }));

describe('POST /astrbot-api/v1/messages/intercept', () => {
  it('answers 401 without the bearer, 401 with a wrong one, and writes nothing', async () => {
    const { sc } = await sidecarWith([]);
    const none = await intercept(sc, interceptBody(1), null);
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({
      type: 'authentication_error',
      code: 'unauthenticated',
    });
    expect(none.body.error.request_id).toBeTruthy();
    const wrong = await intercept(sc, interceptBody(1), 'not-the-token-at-all');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_token');
    expect(sc.outbox.depth).toBe(0);
  });

  it('passes a user not on the list and appends message.inbound', async () => {
    const { sc } = await sidecarWith([entry(1)]);
    const body = interceptBody(2, { group_id: 'g1' });
    const r = await intercept(sc, body);
    expect(r.status).toBe(200);
    expect(InterceptResponse.parse(r.body)).toEqual({ action: 'pass' });
    const [ev] = events(sc);
    expect(ev!.row.session).toBe(body.session);
    expect(ev!.event).toMatchObject({
      type: 'message.inbound',
      data: {
        platform: 'qq',
        platform_instance_id: 'aiocqhttp-1',
        platform_user_id: 'u2',
        nickname: 'user 2',
        group_id: 'g1',
        platform_message_id: body.message_id,
        session_id: body.session,
        kind: 'text',
        text: 'hello 2',
        sent_at: body.sent_at,
      },
    });
    expect(sc.stats.pass).toBe(1);
  });

  it('blocks a listed user with reason and entry id and appends message.blocked', async () => {
    const { sc } = await sidecarWith([entry(1, { reason: 'spam' })]);
    const r = await intercept(sc, interceptBody(1));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ action: 'block', reason: 'spam', entry_id: 'bl_0001' });
    const [ev] = events(sc);
    expect(ev!.event).toMatchObject({
      type: 'message.blocked',
      data: {
        platform_user_id: 'u1',
        message_status: 'blocked_by_blacklist',
        reason: 'spam',
        entry_id: 'bl_0001',
        text: 'hello 1',
      },
    });
    expect(sc.stats.block).toBe(1);
  });

  it('a block without a reason answers no reason', async () => {
    const { sc } = await sidecarWith([entry(1, { reason: null })]);
    const r = await intercept(sc, interceptBody(1));
    expect(r.body).toEqual({ action: 'block', entry_id: 'bl_0001' });
    expect(events(sc)[0]!.event.data).not.toHaveProperty('reason');
  });

  it('checks expiry at lookup: an expired entry passes without any push', async () => {
    let now = Date.UTC(2026, 0, 1);
    const { sc } = await sidecarWith([entry(1, { expires_at: now + 60_000 })], () => now);
    expect((await intercept(sc, interceptBody(1))).body.action).toBe('block');
    now += 60_000;
    expect((await intercept(sc, interceptBody(1))).body.action).toBe('pass');
    expect(events(sc).map((e) => e.event.type)).toEqual(['message.blocked', 'message.inbound']);
  });

  it('sees a live delta at once', async () => {
    const { sc, control } = await sidecarWith([]);
    expect((await intercept(sc, interceptBody(5))).body.action).toBe('pass');
    control.commit({ upsert: entry(5) });
    await waitFor(() => sc.cache.revision === control.revision);
    expect((await intercept(sc, interceptBody(5))).body.action).toBe('block');
    control.commit({ remove: { platform: 'qq', platform_user_id: 'u5' } });
    await waitFor(() => sc.cache.revision === control.revision);
    expect((await intercept(sc, interceptBody(5))).body.action).toBe('pass');
  });

  it('answers 400 naming the field for an unknown platform, a missing field, an unknown field, bad JSON', async () => {
    const { sc } = await sidecarWith([]);
    const platform = await intercept(sc, interceptBody(1, { platform: 'icq' }));
    expect(platform.status).toBe(400);
    expect(platform.body.error).toMatchObject({ code: 'validation_failed', param: 'platform' });
    expect(platform.body.error.message).toMatch(/unknown platform "icq"/);
    const { session: _s, ...noSession } = interceptBody(1);
    const missing = await intercept(sc, noSession);
    expect(missing.body.error).toMatchObject({ code: 'validation_failed', param: 'session' });
    const extra = await intercept(sc, { ...interceptBody(1), colour: 'red' });
    expect(extra.body.error).toMatchObject({ param: 'colour' });
    const kind = await intercept(sc, interceptBody(1, { kind: 'sticker' }));
    expect(kind.body.error.param).toBe('kind');
    const time = await intercept(sc, interceptBody(1, { sent_at: 'yesterday' }));
    expect(time.body.error.param).toBe('sent_at');
    const json = await intercept(sc, '{"platform":');
    expect(json.status).toBe(400);
    expect(json.body.error.code).toBe('invalid_json');
    expect(sc.outbox.depth).toBe(0);
  });

  it('accepts every protocol platform, "other" with an adapter', async () => {
    const { sc } = await sidecarWith([]);
    for (const platform of ['wecom', 'telegram', 'other']) {
      const r = await intercept(sc, interceptBody(1, { platform, adapter: 'matrix' }));
      expect(r.status).toBe(200);
    }
    for (const { event } of events(sc)) expect(event.type).toBe('message.inbound');
    // The adapter name travels to the server (which keeps it on the contact).
    expect(events(sc).map(({ event }) => (event.data as { adapter?: string }).adapter)).toEqual([
      'matrix',
      'matrix',
      'matrix',
    ]);
    await intercept(sc, interceptBody(2, { platform: 'other', adapter: '' }));
    expect(events(sc).at(-1)!.event.data).not.toHaveProperty('adapter');
  });
});

describe('the intercept outside the fast path', () => {
  it('the Hono route (app.request, or a URL with a query) answers the same', async () => {
    const { sc } = await sidecarWith([entry(1, { reason: 'spam' })]);
    const init = (n: number, token = API_TOKEN) => ({
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(interceptBody(n)),
    });
    const viaApp = await sc.app.request('/astrbot-api/v1/messages/intercept', init(1));
    expect(viaApp.status).toBe(200);
    expect(await viaApp.json()).toEqual({ action: 'block', reason: 'spam', entry_id: 'bl_0001' });
    const viaQuery = await fetch(`${sc.url}/astrbot-api/v1/messages/intercept?via=hono`, init(2));
    expect(await viaQuery.json()).toEqual({ action: 'pass' });
    const denied = await sc.app.request(
      '/astrbot-api/v1/messages/intercept',
      init(1, 'nope-nope-nope-nope'),
    );
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/invalid_token/);
    expect(events(sc).map((e) => e.event.type)).toEqual(['message.blocked', 'message.inbound']);
  });

  it('echoes a valid x-request-id and makes one otherwise', async () => {
    const { sc } = await sidecarWith([]);
    const send = (id?: string) =>
      fetch(`${sc.url}/astrbot-api/v1/messages/intercept`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${API_TOKEN}`,
          'content-type': 'application/json',
          ...(id ? { 'x-request-id': id } : {}),
        },
        body: JSON.stringify(interceptBody(1)),
      });
    expect((await send('plugin-req-42')).headers.get('x-request-id')).toBe('plugin-req-42');
    expect((await send('bad id with spaces')).headers.get('x-request-id')).toMatch(/^req_/);
    const noToken = await fetch(`${sc.url}/astrbot-api/v1/messages/intercept`, { method: 'POST' });
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('www-authenticate')).toBe('Bearer realm="astrdesk-sidecar"');
  });
});

describe('POST /astrbot-api/v1/messages/outbound', () => {
  it('appends message.outbound_sent', async () => {
    const { sc } = await sidecarWith([]);
    const r = await post(`${sc.url}/astrbot-api/v1/messages/outbound`, {
      platform: 'qq',
      user_id: 'u1',
      session: 'aiocqhttp:FriendMessage:u1',
      message_id: 'out-1',
      kind: 'text',
      text: '您好',
      sent_at: '2026-01-01T10:00:01.000Z',
    });
    expect(r.status).toBe(202);
    expect(r.body.event_id).toMatch(/^sc_/);
    const [ev] = events(sc);
    expect(ev!.event).toEqual({
      id: r.body.event_id,
      type: 'message.outbound_sent',
      occurred_at: expect.any(String),
      data: {
        platform: 'qq',
        platform_user_id: 'u1',
        platform_message_id: 'out-1',
        session_id: 'aiocqhttp:FriendMessage:u1',
        kind: 'text',
        text: '您好',
        sent_at: '2026-01-01T10:00:01.000Z',
      },
    });
  });

  it('defaults sent_at and requires the bearer', async () => {
    const { sc } = await sidecarWith([]);
    const body = { platform: 'qq', session: 's', kind: 'text', text: 'hi' };
    expect((await post(`${sc.url}/astrbot-api/v1/messages/outbound`, body, null)).status).toBe(401);
    const r = await post(`${sc.url}/astrbot-api/v1/messages/outbound`, body);
    expect(r.status).toBe(202);
    expect(events(sc)[0]!.event.data).toHaveProperty('sent_at');
  });
});

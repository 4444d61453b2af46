/**
 * The outbox against the REAL server: while the server is down the intercept keeps answering
 * and the outbox grows (across a sidecar restart too); when the server comes back on the same
 * database and port, the outbox drains and the server holds every message exactly once —
 * counted through its own API (conversations → messages, platform_message_id).
 */
import type { RunningServer } from '@astrdesk/server';
import { afterEach, describe, expect, it } from 'vitest';
import {
  apiOk,
  Cleanups,
  createInstance,
  e2eDatabase,
  LossyRelay,
  poll,
  setupTenant,
  startE2ESidecar,
  startRealServer,
  waitRevision,
} from './harness.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

interface StoredMessage {
  id: string;
  conversation_id: string;
  status: string;
  text: string | null;
  platform_message_id: string | null;
}

/** Every message of the tenant, through GET /v1/conversations and …/{id}/messages (all pages). */
async function allMessages(base: string, owner: string): Promise<StoredMessage[]> {
  const conversations: string[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await apiOk(200, base, 'GET', `/v1/conversations?limit=100${q}`, owner);
    for (const c of page.data as Array<{ id: string }>) conversations.push(c.id);
    if (!page.has_more) break;
    cursor = page.next_cursor;
  }
  const out: StoredMessage[] = [];
  for (const id of conversations) {
    let mc: string | null = null;
    for (let i = 0; i < 1000; i++) {
      const q: string = mc ? `&cursor=${encodeURIComponent(mc)}` : '';
      const page = await apiOk(
        200,
        base,
        'GET',
        `/v1/conversations/${id}/messages?limit=100&direction=newer${q}`,
        owner,
      );
      out.push(...(page.data as StoredMessage[]));
      if (!page.has_more) break;
      mc = page.next_cursor;
    }
  }
  return out;
}

describe('e2e: outbox while the server is down', () => {
  it('grows while the server is down, drains when it is back: every message once, none lost', async () => {
    const db = e2eDatabase();
    cleanups.add(() => db.drop());
    let server: RunningServer = await startRealServer(db);
    cleanups.add(() => server.close());
    const port = server.port;
    const base = server.url;
    const { owner } = await setupTenant(server);
    const instance = await createInstance(base, owner);
    const spammer = await apiOk(201, base, 'POST', '/v1/blacklist', owner, {
      platform: 'qq',
      platform_user_id: 'spammer',
      reason: 'spam',
    });

    let h = await startE2ESidecar(cleanups, base, instance.token);
    await waitRevision(h, 1);

    const sent: Array<{ id: string; blocked: boolean; text: string }> = [];
    let n = 0;
    const send = async () => {
      const i = n++;
      const blocked = i % 5 === 4;
      const user = blocked ? 'spammer' : `user-${i % 4}`;
      const id = `pm-${i}`;
      const text = `message ${i}`;
      const sentAt = new Date(Date.UTC(2026, 0, 1, 10, 0, i)).toISOString();
      const r = await h.intercept({ user, messageId: id, text, sentAt });
      expect(r.status).toBe(200);
      expect(r.body).toEqual(
        blocked ? { action: 'block', reason: 'spam', entry_id: spammer.id } : { action: 'pass' },
      );
      sent.push({ id, blocked, text });
    };

    // Server up: delivered at once.
    for (let i = 0; i < 5; i++) await send();
    await poll(() => h.sc.outbox.depth === 0, 'the first messages to be delivered');

    // Server down: the sidecar keeps answering, the outbox grows.
    await server.close();
    await poll(() => !h.sc.channel.connected, 'the channel to notice');
    for (let i = 0; i < 30; i++) await send();
    expect(h.sc.outbox.depth).toBe(30);

    // The sidecar restarts while the server is still down: the rows survive, more arrive.
    const dir = h.dir;
    const before = h.sc.outbox.rows().map((r) => r.id);
    await h.close();
    h = await startE2ESidecar(cleanups, base, instance.token, { dir });
    expect(h.sc.outbox.rows().map((r) => r.id)).toEqual(before);
    for (let i = 0; i < 15; i++) await send();
    expect(h.sc.outbox.depth).toBe(45);
    await poll(() => h.sc.outbox.stats.send_failures > 0, 'a failed delivery attempt');
    expect(h.sc.outbox.depth).toBe(45);
    expect(h.sc.health()).toMatchObject({ server_connected: false, outbox_depth: 45 });

    // The server comes back on the same database and the same port (the sidecar's URL).
    server = await startRealServer(db, { port });
    expect(server.url).toBe(base);
    await poll(() => h.sc.outbox.depth === 0, 'the outbox to drain', { tries: 800 });
    await poll(() => h.sc.channel.connected, 'the channel to reconnect');

    // Counted on the server: exactly the 50 messages, each once, with the right status.
    const stored = await allMessages(base, owner);
    const ids = stored.map((m) => m.platform_message_id);
    expect(stored).toHaveLength(sent.length);
    expect(new Set(ids).size).toBe(sent.length);
    expect([...ids].sort()).toEqual(sent.map((s) => s.id).sort());
    const byId = new Map(stored.map((m) => [m.platform_message_id, m]));
    for (const s of sent) {
      const m = byId.get(s.id)!;
      expect(m.text).toBe(s.text);
      expect(m.status).toBe(s.blocked ? 'blocked_by_blacklist' : 'received');
    }
    // One conversation per user (4 open ones, the spammer's closed one).
    expect(new Set(stored.map((m) => m.conversation_id)).size).toBe(5);
  }, 60_000);

  it('a batch the server stored but whose answer was lost is sent again and stored once', async () => {
    const db = e2eDatabase();
    cleanups.add(() => db.drop());
    const server = await startRealServer(db);
    cleanups.add(() => server.close());
    const base = server.url;
    const { owner } = await setupTenant(server);
    const instance = await createInstance(base, owner);
    const relay = await LossyRelay.start(base);
    cleanups.add(() => relay.close());
    const h = await startE2ESidecar(cleanups, relay.url, instance.token, {
      // One batch for all of them: the sidecar gathers rows for 200 ms before sending.
      env: { SIDECAR_OUTBOX_FLUSH_MS: '200', SIDECAR_OUTBOX_INTERVAL_MS: '5000' },
    });
    await poll(() => h.sc.channel.connected, 'the channel');

    let lose = true;
    relay.loseAnswer = (method, url) => {
      if (lose && method === 'POST' && url === '/v1/sidecar/events') {
        lose = false;
        return true;
      }
      return false;
    };
    const ids = Array.from({ length: 12 }, (_, i) => `lost-answer-${i}`);
    await Promise.all(ids.map((id, i) => h.intercept({ user: `u-${i % 3}`, messageId: id })));
    await poll(() => relay.lostAnswers.length === 1, 'a batch whose answer is lost');
    await poll(() => h.sc.outbox.depth === 0, 'the outbox to drain', { tries: 800 });
    // The sidecar saw a failure and sent the rows again...
    expect(h.sc.outbox.stats.send_failures).toBeGreaterThan(0);
    // ...and the server, idempotent on event ids, stored each message once.
    const stored = await allMessages(base, owner);
    expect(stored.map((m) => m.platform_message_id).sort()).toEqual([...ids].sort());
  }, 60_000);
});

import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../test-utils/index.js';
import { docMatch, searchMessages, tokenize } from './index.js';

let t: TestServer;
let owner: Awaited<ReturnType<TestServer['tenant']>>;
let other: Awaited<ReturnType<TestServer['tenant']>>;
let instanceToken: string;
let agent: { id: string; token: string };
let seq = 0;

function event(
  user: string,
  text: string,
  opts: { type?: string; nickname?: string; kind?: string } = {},
) {
  seq++;
  const type = opts.type ?? 'message.inbound';
  return {
    id: `s-${seq}`,
    type,
    occurred_at: new Date().toISOString(),
    data: {
      platform: 'wecom',
      platform_user_id: user,
      nickname: opts.nickname ?? user,
      platform_message_id: `p-${seq}`,
      session_id: `wecom:${user}`,
      kind: opts.kind ?? 'text',
      text,
      sent_at: new Date().toISOString(),
      ...(type === 'message.blocked' ? { message_status: 'blocked_by_blacklist' } : {}),
    },
  };
}

const search = (qs: string, token = owner.token) =>
  t.call('GET', `/v1/messages/search?${qs}`, { token });
const texts = (r: { body: { data: Array<{ text: string }> } }) => r.body.data.map((m) => m.text);

beforeAll(async () => {
  t = await createTestServer();
  owner = await t.tenant('SearchCo');
  other = await t.tenant('OtherCo');
  const inst = await t.call('POST', '/v1/instances', {
    token: owner.token,
    body: { name: 'b', platforms: ['wecom'] },
  });
  instanceToken = inst.body.token;
  await t.call('POST', '/v1/members', {
    token: owner.token,
    body: {
      email: 'a@search.example',
      name: 'A',
      role: 'agent',
      password: 'correct-horse-battery',
    },
  });
  const l = await t.call('POST', '/v1/auth/login', {
    body: { email: 'a@search.example', password: 'correct-horse-battery' },
  });
  agent = { id: l.body.member.id, token: l.body.token };
  const events = [
    event('alice', '我想申请退款，订单号 A123', { nickname: '爱丽丝' }),
    event('alice', '退款什么时候到账？', { nickname: '爱丽丝' }),
    event('bob', 'I want a REFUND for my iPhone 15', { nickname: 'Bobby' }),
    event('bob', 'refunding is slow', { nickname: 'Bobby' }),
    event('carol', '请问怎么退货', { nickname: 'Carol' }),
    event('carol', '款式有哪些'),
    event('dave', '我要退款 <script>alert(1)</script>'),
    event('spammer', '退款退款退款 buy now', { type: 'message.blocked' }),
  ];
  const r = await t.call('POST', '/v1/sidecar/events', { token: instanceToken, body: { events } });
  expect(r.status).toBe(200);
  const otherInst = await t.call('POST', '/v1/instances', {
    token: other.token,
    body: { name: 'o', platforms: [] },
  });
  await t.call('POST', '/v1/sidecar/events', {
    token: otherInst.body.token,
    body: { events: [event('eve', '其他租户的退款 refund')] },
  });
});
afterAll(async () => {
  await t?.close();
});

describe('message search', () => {
  it('finds a 2-character Chinese word, newest first', async () => {
    const r = await search(`q=${encodeURIComponent('退款')}`, agent.token);
    expect(r.status).toBe(200);
    expect(texts(r)).toEqual([
      '我要退款 <script>alert(1)</script>',
      '退款什么时候到账？',
      '我想申请退款，订单号 A123',
    ]);
  });

  it('matches a longer phrase exactly, not its characters scattered', async () => {
    expect(texts(await search(`q=${encodeURIComponent('申请退款')}`))).toEqual([
      '我想申请退款，订单号 A123',
    ]);
    expect(texts(await search(`q=${encodeURIComponent('退货')}`))).toEqual(['请问怎么退货']);
    // 款退 occurs only inside 退款退款退款 (a blocked message agents cannot see).
    expect(texts(await search(`q=${encodeURIComponent('款退')}`, agent.token))).toEqual([]);
    expect(texts(await search(`q=${encodeURIComponent('款退')}`))).toEqual([
      '退款退款退款 buy now',
    ]);
  });

  it('finds English words case-insensitively, and ANDs terms', async () => {
    expect(texts(await search('q=refund'))).toEqual(['I want a REFUND for my iPhone 15']);
    expect(texts(await search('q=iphone%2015'))).toEqual(['I want a REFUND for my iPhone 15']);
    expect(texts(await search(`q=${encodeURIComponent('退款 a123')}`))).toEqual([
      '我想申请退款，订单号 A123',
    ]);
  });

  it('finds a single Chinese character anywhere', async () => {
    expect(texts(await search(`q=${encodeURIComponent('货')}`))).toEqual(['请问怎么退货']);
  });

  it('highlights matches in an HTML-escaped snippet', async () => {
    const r = await search(`q=${encodeURIComponent('退款')}&limit=1`, agent.token);
    expect(r.body.data[0].snippet).toBe(
      '我要<mark>退款</mark> &lt;script&gt;alert(1)&lt;/script&gt;',
    );
  });

  it('filters by contact, nickname, kind, conversation and time; pages with a cursor', async () => {
    const contact = (await t.call('GET', '/v1/contacts?q=alice', { token: owner.token })).body
      .data[0];
    expect(contact.platform_user_id).toBe('alice');
    expect(texts(await search(`contact_id=${contact.id}`))).toHaveLength(2);
    expect(texts(await search(`nickname=${encodeURIComponent('爱丽')}`))).toHaveLength(2);
    expect(texts(await search(`nickname=bobby&q=refund`))).toEqual([
      'I want a REFUND for my iPhone 15',
    ]);
    expect(texts(await search('kind=voice'))).toEqual([]);
    const conv = (
      await t.call('GET', `/v1/conversations?contact_id=${contact.id}`, { token: owner.token })
    ).body.data[0];
    expect(
      texts(await search(`conversation_id=${conv.id}&q=${encodeURIComponent('退款')}`)),
    ).toHaveLength(2);
    expect(texts(await search(`to=2000-01-01T00:00:00Z`))).toEqual([]);
    const p1 = await search(`q=${encodeURIComponent('退款')}&limit=2`, agent.token);
    expect(p1.body.has_more).toBe(true);
    const p2 = await search(
      `q=${encodeURIComponent('退款')}&limit=2&cursor=${p1.body.next_cursor}`,
      agent.token,
    );
    expect([...texts(p1), ...texts(p2)]).toEqual([
      '我要退款 <script>alert(1)</script>',
      '退款什么时候到账？',
      '我想申请退款，订单号 A123',
    ]);
    expect(p2.body.has_more).toBe(false);
  });

  it("shows blocked messages to admins only, and never another tenant's", async () => {
    const asOwner = texts(await search(`q=${encodeURIComponent('退款')}&limit=50`));
    expect(asOwner).not.toContain('其他租户的退款 refund');
    const blockedForOwner = (await search('q=buy')).body.data;
    expect(blockedForOwner.map((m: { status: string }) => m.status)).toEqual([
      'blocked_by_blacklist',
    ]);
    expect(texts(await search('q=buy', agent.token))).toEqual([]);
    expect(texts(await search('q=refund', other.token))).toEqual(['其他租户的退款 refund']);
  });

  it('caches repeated queries and a new message invalidates them', async () => {
    const q = `q=${encodeURIComponent('到账')}`;
    const first = await search(q);
    expect(first.headers.get('x-cache')).toBe('miss');
    const second = await search(q);
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(second.body).toEqual(first.body);
    await t.call('POST', '/v1/sidecar/events', {
      token: instanceToken,
      body: { events: [event('frank', '钱什么时候到账')] },
    });
    const third = await search(q);
    expect(third.headers.get('x-cache')).toBe('miss');
    expect(texts(third)).toEqual(['钱什么时候到账', '退款什么时候到账？']);
  });

  it('gives the same pages whichever way the query is run', async () => {
    // On PostgreSQL a search in one conversation or contact first tests its newest
    // `scanWindow` messages, then falls back to the GIN index; on SQLite such a filter drives
    // the query instead of the full-text index. Every way must give the same pages.
    type Hit = { id: string; contact_id: string | null; conversation_id: string };
    const hits = async (
      q: string,
      limit: number,
      filter: { contact_id?: string; conversation_id?: string } = {},
      scanWindow?: number,
    ) => {
      const out: Hit[] = [];
      let cursor: string | undefined;
      do {
        const page = await searchMessages(
          t.services,
          owner.tenantId,
          { q, limit, cursor, ...filter },
          { includeBlocked: true, ...(scanWindow ? { scanWindow } : {}) },
        );
        out.push(...page.data);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      return out;
    };
    const ids = (h: Hit[]) => h.map((m) => m.id);
    for (const q of ['退款', '申请退款', 'refund', '退款 a123', '款退', '退 款', '退款 款']) {
      for (const limit of [1, 2, 20]) {
        const all = await hits(q, limit);
        expect(all.length).toBeGreaterThan(0);
        for (const w of [1, 2, 3]) expect(ids(await hits(q, limit, {}, w))).toEqual(ids(all));
        for (const contact_id of new Set(all.map((m) => m.contact_id!)))
          expect(ids(await hits(q, limit, { contact_id }))).toEqual(
            ids(all.filter((m) => m.contact_id === contact_id)),
          );
        for (const conversation_id of new Set(all.map((m) => m.conversation_id)))
          expect(ids(await hits(q, limit, { conversation_id }, 1))).toEqual(
            ids(all.filter((m) => m.conversation_id === conversation_id)),
          );
      }
    }
  });

  it('answers 400 for a query with nothing searchable', async () => {
    const r = await search(`q=${encodeURIComponent('!!! ???')}`);
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('q');
  });
});

describe('PostgreSQL bucket ranges (newest first across ranges and tenants)', () => {
  // Messages are placed at chosen rids so that one query needs every range of
  // searchByBuckets: the two newest buckets of 4,096 rids, of 32,768, of 262,144, and older.
  const TOP = 3_000_000;
  const AT = [10, 5_000, 40_000, 300_000, 2_000_000].map((d) => TOP - d);
  type Setup = { tenantId: string; conversationId: string; contactId: string | null };
  let dense: Setup;
  let sparse: Setup;
  let intruder: Setup;

  async function tenantWithConversation(name: string): Promise<Setup> {
    const tn = await t.tenant(name);
    const inst = await t.call('POST', '/v1/instances', {
      token: tn.token,
      body: { name: 'b', platforms: ['wecom'] },
    });
    await t.call('POST', '/v1/sidecar/events', {
      token: inst.body.token,
      body: { events: [event('zed', '开场白')] },
    });
    const conv = await t.services.db
      .selectFrom('conversations')
      .select(['id', 'contact_id'])
      .where('tenant_id', '=', tn.tenantId)
      .executeTakeFirstOrThrow();
    return { tenantId: tn.tenantId, conversationId: conv.id, contactId: conv.contact_id };
  }

  async function put(who: Setup, rows: Array<{ rid: number; text: string }>) {
    const { db } = t.services;
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500).map((r) => ({
        rid: r.rid,
        id: `msg_bucket_${r.rid}`,
        tenant_id: who.tenantId,
        conversation_id: who.conversationId,
        contact_id: who.contactId,
        sender: 'user',
        agent_id: null,
        kind: 'text',
        text: r.text,
        media: null,
        status: 'received',
        internal: 0,
        platform_message_id: null,
        search_tokens: tokenize(r.text) || null,
        created_at: 1_700_000_000_000 + r.rid,
      }));
      await db.insertInto('messages').values(chunk).execute();
      if (t.services.database.kind === 'sqlite')
        for (const r of chunk)
          await sql`insert into messages_fts (rowid, tokens) values (${r.rid}, ${r.search_tokens})`.execute(
            db,
          );
    }
  }

  beforeAll(async () => {
    dense = await tenantWithConversation('DenseCo');
    sparse = await tenantWithConversation('SparseCo');
    intruder = await tenantWithConversation('IntruderCo');
    const taken = new Set<number>();
    const matches = (who: string, shift: number) =>
      AT.map((rid, i) => {
        taken.add(rid - shift);
        return { rid: rid - shift, text: `${who}${i} 我要申请退款 快递 到了吗` };
      });
    const intruding = matches('intruder', 1);
    const sparseRows = matches('sparse', 2);
    const denseRows = matches('dense', 0);
    // The dense tenant owns (nearly) all of the newest 4,300 rids: no ~t restriction.
    const filler: Array<{ rid: number; text: string }> = [];
    for (let rid = TOP - 4_300; rid <= TOP; rid++)
      if (!taken.has(rid)) filler.push({ rid, text: '你好 hello' });
    await put(dense, [...denseRows, ...filler]);
    await put(sparse, sparseRows);
    await put(intruder, intruding);
  });

  const pages = async (who: Setup, q: string, limit: number) => {
    const out: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await searchMessages(
        t.services,
        who.tenantId,
        { q, limit, cursor },
        { includeBlocked: false },
      );
      out.push(...page.data.map((m) => m.text ?? ''));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return out;
  };

  it('pages through every range in order, without other tenants, for dense and sparse tenants', async () => {
    for (const [who, name] of [
      [dense, 'dense'],
      [sparse, 'sparse'],
    ] as const) {
      const expected = AT.map((_, i) => `${name}${i} 我要申请退款 快递 到了吗`);
      for (const q of ['退款', '申请退款', '快递 退款', '退款 到', `${name}0`])
        for (const limit of [1, 2, 3, 20]) {
          const want = q === `${name}0` ? expected.slice(0, 1) : expected;
          expect(await pages(who, q, limit)).toEqual(want);
        }
    }
    const hello = await searchMessages(
      t.services,
      dense.tenantId,
      { q: 'hello', limit: 20 },
      { includeBlocked: false },
    );
    expect(hello.data.map((m) => Number(m.id.slice('msg_bucket_'.length)))).toEqual(
      Array.from({ length: 20 }, (_, i) => TOP - i)
        .filter((rid) => rid !== TOP - 10 && rid !== TOP - 11 && rid !== TOP - 12)
        .concat([TOP - 20, TOP - 21, TOP - 22])
        .slice(0, 20),
    );
    expect(hello.has_more).toBe(true);
  });

  it.runIf(process.env.ASTRDESK_TEST_DB === 'postgres')(
    "uses migration 0005's index (the query's expression matches the index's)",
    async () => {
      const { db } = t.services;
      const q = db
        .selectFrom('messages as m')
        .select('m.rid')
        .where(docMatch('退款', [`'~a1'`], []))
        .compile();
      const plan = await db.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`explain ${q.sql}`, [...q.parameters]),
      );
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('messages_search_doc_idx');
    },
  );
});

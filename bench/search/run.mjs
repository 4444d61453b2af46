#!/usr/bin/env node
// Message search benchmark: 1,000,000 messages for one tenant, the API's full-text search
// (GET /v1/messages/search over HTTP, and searchMessages() called in-process) against a naive
// `text LIKE '%term%'` scan, on SQLite and/or PostgreSQL.
//
// Usage: node bench/search/run.mjs [--db sqlite|postgres|both] [--messages 1000000]
//          [--runs 200] [--budget 30] [--reuse] [--data-dir /tmp/astrdesk-bench-search]
//          [--pg-url postgres://postgres@127.0.0.1:5432/test] [--pg-schema bench_search]
//          [--only-index] [--explain]
//
// --reuse     keep and reuse a database loaded by an earlier run with the same --messages
//             (SQLite file under --data-dir, PostgreSQL schema --pg-schema); default reloads.
// --budget    seconds per slow case: a case stops after `runs` runs or `budget` seconds,
//             whichever is first, but runs at least 20 times (the LIKE count scans).
// --only-index  skip the naive LIKE baselines.
//
// The server is a private build of the current packages/server/src (bench/search/.build),
// run in a child process. The search API caches answers (per tenant, 10 s, invalidated by new
// messages); every HTTP run therefore adds a different `to` timestamp (in the future, so the
// filter still covers all data), which makes each request a cache miss (checked: X-Cache).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeTextGenerator, RARE_EN, RARE_ZH } from './gen.mjs';
import {
  argValue,
  buildServer,
  call,
  cpuMeter,
  HERE,
  importServer,
  log,
  machineInfo,
  mdTable,
  r1,
  r2,
  rng,
  serverRequire,
  setupTenant,
  startServerChild,
  stats,
} from './lib.mjs';

const argv = process.argv.slice(2);
/** Our PostgreSQL backends are found (for CPU accounting) by this application_name. */
const PG_APP = 'astrdesk_bench_search';
function withAppName(url) {
  const u = new URL(url);
  u.searchParams.set('application_name', PG_APP);
  return u.toString();
}
const opts = {
  db: argValue(argv, 'db', 'both'),
  messages: Number(argValue(argv, 'messages', '1000000')),
  runs: Number(argValue(argv, 'runs', '200')),
  budget: Number(argValue(argv, 'budget', '30')),
  reuse: argv.includes('--reuse'),
  onlyIndex: argv.includes('--only-index'),
  dataDir: path.resolve(argValue(argv, 'data-dir', '/tmp/astrdesk-bench-search')),
  pgUrl: withAppName(argValue(argv, 'pg-url', 'postgres://postgres@127.0.0.1:5432/test')),
  pgSchema: argValue(argv, 'pg-schema', 'bench_search'),
  seed: Number(argValue(argv, 'seed', '42')),
};
const GEN_VERSION = 3;
const CONTACTS = Math.max(10, Math.round(opts.messages / 40));
const CONVERSATIONS = Math.max(10, Math.round(opts.messages / 12.5));

const CASES = [
  { name: '2-char CJK', q: '退款', like: ['退款'] },
  { name: '4-char CJK phrase', q: '申请退款', like: ['申请退款'] },
  { name: 'English word', q: 'refund', like: ['refund'] },
  { name: 'mid-frequency phrase', q: '申请售后', like: ['申请售后'] },
  { name: 'two terms (AND)', q: '快递 退款', like: ['快递', '退款'] },
  { name: 'rare CJK (10 msgs)', q: RARE_ZH, like: [RARE_ZH] },
  { name: 'rare English (10 msgs)', q: RARE_EN, like: [RARE_EN] },
  // Filters (a conversation of ~20 messages; the contact with the most messages).
  { name: 'conversation filter, no q', filter: 'conversation_id', like: [] },
  {
    name: 'conversation filter + 2-char CJK',
    q: '退款',
    filter: 'conversation_id',
    like: ['退款'],
  },
  { name: 'contact filter + 2-char CJK', q: '退款', filter: 'contact_id', like: ['退款'] },
  {
    name: 'contact filter + 4-char phrase',
    q: '申请退款',
    filter: 'contact_id',
    like: ['申请退款'],
  },
];

// ---- data -----------------------------------------------------------------------------------

/** Generates every row (deterministic), handing messages to `sink` in rid order. */
function* generate({ tenantId, agentId }) {
  const rand = rng(opts.seed + 1);
  const gen = makeTextGenerator(opts.seed);
  const N = opts.messages;
  const end = Date.UTC(2026, 10, 1);
  const start = end - 180 * 86_400_000;
  const step = (end - start) / N;
  const timeAt = (i) => Math.floor(start + i * step);
  const id = (prefix, t, n) =>
    `${prefix}_${t.toString(36).padStart(10, '0')}${n.toString(36).padStart(16, '0')}`;
  const contacts = [];
  for (let c = 0; c < CONTACTS; c++) {
    contacts.push({
      id: id('ct', start, c),
      tenant_id: tenantId,
      platform: 'qq',
      platform_user_id: String(100000 + c),
      nickname: `用户${c}`,
      avatar_url: null,
      first_seen_at: start,
      last_seen_at: end,
    });
  }
  yield { table: 'contacts', rows: contacts };
  const convs = [];
  for (let v = 0; v < CONVERSATIONS; v++) {
    const first = Math.floor((v * N) / CONVERSATIONS);
    const t = timeAt(first);
    const open = v >= CONVERSATIONS - 200;
    convs.push({
      id: id('conv', t, v),
      tenant_id: tenantId,
      contact_id: contacts[Math.floor(rand() ** 1.5 * CONTACTS)].id,
      instance_id: null,
      platform: 'qq',
      session_id: `aiocqhttp:FriendMessage:${v}`,
      state: open ? 'active' : 'closed',
      assigned_agent_id: open ? agentId : null,
      last_message_preview: null,
      last_activity_at: timeAt(Math.min(N - 1, first + 40)),
      unread_count: 0,
      message_count: 12,
      created_at: t,
      updated_at: t,
      closed_at: open ? null : timeAt(Math.min(N - 1, first + 40)),
      handled_by: 'agent',
    });
  }
  yield { table: 'conversations', rows: convs };
  const BATCH = 5000;
  let batch = [];
  for (let i = 0; i < N; i++) {
    // Messages interleave over the ~20 most recently opened conversations.
    const v = Math.max(
      0,
      Math.min(
        CONVERSATIONS - 1,
        Math.floor((i * CONVERSATIONS) / N) - Math.floor(rand() ** 2 * 20),
      ),
    );
    const conv = convs[v];
    const r = rand();
    const sender = r < 0.55 ? 'user' : r < 0.85 ? 'bot' : 'agent';
    const t = timeAt(i);
    batch.push({
      rid: i + 1,
      id: id('msg', t, i),
      tenant_id: tenantId,
      conversation_id: conv.id,
      contact_id: conv.contact_id,
      sender,
      agent_id: sender === 'agent' ? agentId : null,
      kind: 'text',
      text: gen.text(i, N),
      media: null,
      status: sender === 'user' ? (rand() < 0.005 ? 'blocked_by_blacklist' : 'received') : 'sent',
      internal: 0,
      platform_message_id: sender === 'user' ? `pm-${i}` : null,
      created_at: t,
    });
    if (batch.length === BATCH) {
      yield { table: 'messages', rows: batch };
      batch = [];
    }
  }
  if (batch.length) yield { table: 'messages', rows: batch };
}

const CONV_COLS = [
  'id',
  'tenant_id',
  'contact_id',
  'instance_id',
  'platform',
  'session_id',
  'state',
  'assigned_agent_id',
  'last_message_preview',
  'last_activity_at',
  'unread_count',
  'message_count',
  'created_at',
  'updated_at',
  'closed_at',
  'handled_by',
];
const CONTACT_COLS = [
  'id',
  'tenant_id',
  'platform',
  'platform_user_id',
  'nickname',
  'avatar_url',
  'first_seen_at',
  'last_seen_at',
];
const MSG_COLS = [
  'rid',
  'id',
  'tenant_id',
  'conversation_id',
  'contact_id',
  'sender',
  'agent_id',
  'kind',
  'text',
  'media',
  'status',
  'internal',
  'platform_message_id',
  'search_tokens',
  'created_at',
];

async function loadSqlite(file, ids, tokenize) {
  const Database = serverRequire('better-sqlite3');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const ins = (table, cols) =>
    db.prepare(
      `insert into ${table} (${cols.join(',')}) values (${cols.map((c) => `@${c}`).join(',')})`,
    );
  const insContact = ins('contacts', CONTACT_COLS);
  const insConv = ins('conversations', CONV_COLS);
  const insMsg = ins('messages', MSG_COLS);
  const insFts = db.prepare('insert into messages_fts (rowid, tokens) values (?, ?)');
  let n = 0;
  const t0 = performance.now();
  db.exec('begin');
  for (const { table, rows } of generate(ids)) {
    if (table === 'contacts') for (const r of rows) insContact.run(r);
    else if (table === 'conversations') for (const r of rows) insConv.run(r);
    else {
      for (const r of rows) {
        const tokens = tokenize(r.text);
        r.search_tokens = tokens || null;
        insMsg.run(r);
        if (tokens) insFts.run(r.rid, tokens);
      }
      n += rows.length;
      if (n % 100_000 === 0)
        log(`sqlite: ${n} messages (${r1((performance.now() - t0) / 1000)} s)`);
    }
  }
  db.exec('commit');
  db.pragma('wal_checkpoint(TRUNCATE)');
  const size = fs.statSync(file).size;
  db.close();
  return { seconds: r1((performance.now() - t0) / 1000), file_mb: Math.round(size / 2 ** 20) };
}

/** Migration 0005's index, character for character (the search's queries must match it). */
const PG_SEARCH_INDEX = `create index messages_search_doc_idx on messages using gin ((search_vector || array_to_tsvector(array['~t' || tenant_id, '~a' || (rid >> 12)::text, '~b' || (rid >> 15)::text, '~c' || (rid >> 18)::text]))) with (gin_pending_list_limit = 512)`;

async function loadPostgres(client, ids, tokenize) {
  const t0 = performance.now();
  await client.query('set synchronous_commit = off');
  // The search's GIN index (migration 0005) is built once after the load, as a bulk load would.
  await client.query('drop index if exists messages_search_doc_idx');
  await client.query('drop index if exists messages_search_idx');
  const types = {
    rid: 'bigint',
    last_activity_at: 'bigint',
    created_at: 'bigint',
    updated_at: 'bigint',
    closed_at: 'bigint',
    first_seen_at: 'bigint',
    last_seen_at: 'bigint',
    unread_count: 'int',
    message_count: 'int',
    internal: 'int',
  };
  const insert = (table, cols, rows) =>
    client.query(
      `insert into ${table} (${cols.join(',')}) select * from unnest(${cols
        .map((c, i) => `$${i + 1}::${types[c] ?? 'text'}[]`)
        .join(',')})`,
      cols.map((c) => rows.map((r) => r[c] ?? null)),
    );
  let n = 0;
  await client.query('begin');
  for (const { table, rows } of generate(ids)) {
    if (table === 'contacts') {
      for (let i = 0; i < rows.length; i += 5000)
        await insert('contacts', CONTACT_COLS, rows.slice(i, i + 5000));
    } else if (table === 'conversations') {
      for (let i = 0; i < rows.length; i += 5000)
        await insert('conversations', CONV_COLS, rows.slice(i, i + 5000));
    } else {
      for (const r of rows) r.search_tokens = tokenize(r.text) || null;
      await insert('messages', MSG_COLS, rows);
      n += rows.length;
      if (n % 100_000 === 0)
        log(`postgres: ${n} messages (${r1((performance.now() - t0) / 1000)} s)`);
    }
  }
  await client.query('commit');
  await client.query(
    `select setval(pg_get_serial_sequence('messages', 'rid'), (select max(rid) from messages))`,
  );
  log('postgres: building the GIN index (same definition as migration 0005)');
  await client.query("set maintenance_work_mem = '512MB'");
  await client.query(PG_SEARCH_INDEX);
  // What autovacuum would do after such a load: statistics (also for the index's expression)
  // and the visibility map.
  await client.query('vacuum analyze');
  const { rows } = await client.query(
    `select pg_total_relation_size('messages') as total, pg_relation_size('messages_search_doc_idx') as gin`,
  );
  return {
    seconds: r1((performance.now() - t0) / 1000),
    table_mb: Math.round(rows[0].total / 2 ** 20),
    gin_mb: Math.round(rows[0].gin / 2 ** 20),
  };
}

// ---- per database -----------------------------------------------------------------------------

async function prepare(kind, server) {
  const dir = path.join(opts.dataDir, kind);
  fs.mkdirSync(dir, { recursive: true });
  const metaFile = path.join(dir, 'bench-meta.json');
  const sqliteFile = path.join(dir, 'astrdesk.db');
  const want = { messages: opts.messages, seed: opts.seed, gen: GEN_VERSION };
  const childEnv = (meta) => ({
    BENCH_DB: kind,
    BENCH_DATA_DIR: dir,
    BENCH_SQLITE_FILE: sqliteFile,
    BENCH_PG_URL: opts.pgUrl,
    BENCH_PG_SCHEMA: opts.pgSchema,
    BENCH_MASTER_KEY: meta.masterKey,
    LOG_LEVEL: 'silent',
  });
  const pg = serverRequire('pg');
  const pgClient = async () => {
    const c = new pg.Client({
      connectionString: opts.pgUrl,
      options: `-c search_path=${opts.pgSchema}`,
    });
    await c.connect();
    return c;
  };
  if (opts.reuse && fs.existsSync(metaFile)) {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    if (Object.entries(want).every(([k, v]) => meta[k] === v)) {
      log(`${kind}: reusing the database loaded ${meta.loaded_at}`);
      return { meta, childEnv: childEnv(meta), sqliteFile, pgClient };
    }
  }
  // Fresh database: migrate and create the tenant through the server, then bulk-load.
  if (kind === 'sqlite')
    for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
  else {
    const c = new pg.Client({ connectionString: opts.pgUrl });
    await c.connect();
    await c.query(`drop schema if exists ${opts.pgSchema} cascade`);
    await c.end();
  }
  const meta = { ...want, masterKey: crypto.randomBytes(32).toString('base64') };
  const srv = await startServerChild({ entry: server.entry, env: childEnv(meta) });
  const t = await setupTenant(srv);
  const key = await call(
    srv.url,
    'POST',
    '/v1/api-keys',
    { name: 'search bench', scopes: ['messages:read'] },
    t.sessionToken,
  );
  await srv.stop();
  Object.assign(meta, { tenantId: t.tenantId, ownerId: t.ownerId, apiKey: key.secret });
  const ids = { tenantId: t.tenantId, agentId: t.ownerId };
  log(`${kind}: loading ${opts.messages} messages`);
  if (kind === 'sqlite') meta.load = await loadSqlite(sqliteFile, ids, server.mod.tokenize);
  else {
    const c = await pgClient();
    meta.load = await loadPostgres(c, ids, server.mod.tokenize);
    await c.end();
  }
  meta.loaded_at = new Date().toISOString();
  log(`${kind}: loaded`, meta.load);
  fs.writeFileSync(metaFile, JSON.stringify(meta, null, 2));
  return { meta, childEnv: childEnv(meta), sqliteFile, pgClient };
}

/**
 * fetch, retried once when a kept-alive socket turns out closed: the synchronous SQLite scans
 * block this event loop for many seconds, past the server's keep-alive timeout.
 */
async function fetchRetry(url, init) {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (!(err instanceof TypeError) || !err.cause) throw err;
    return fetch(url, init);
  }
}

/** Runs `fn(i)` up to opts.runs times (at least 20, at most `budget` s once past 20). */
async function measure(fn, { runs = opts.runs, budget = opts.budget, warmup = 3 } = {}) {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const samples = [];
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    await fn(i);
    samples.push(performance.now() - a);
    if (i >= 19 && performance.now() - t0 > budget * 1000) break;
  }
  return stats(samples);
}

async function benchDb(kind, server) {
  const prep = await prepare(kind, server);
  const { meta } = prep;
  const srv = await startServerChild({ entry: server.entry, env: prep.childEnv });
  // In-process access: a Kysely over the same database (for searchMessages and EXPLAIN) and
  // a raw driver for the naive scans.
  const { Kysely, SqliteDialect, PostgresDialect } = serverRequire('kysely');
  let captured = null;
  const kyLog = (e) => {
    if (captured && e.level === 'query')
      captured.push({ sql: e.query.sql, params: [...e.query.parameters] });
  };
  let raw;
  let db;
  let pool;
  if (kind === 'sqlite') {
    const Database = serverRequire('better-sqlite3');
    raw = new Database(prep.sqliteFile, { readonly: false });
    raw.pragma('journal_mode = WAL');
    db = new Kysely({ dialect: new SqliteDialect({ database: raw }), log: kyLog });
  } else {
    const pg = serverRequire('pg');
    pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
    pool = new pg.Pool({
      connectionString: opts.pgUrl,
      max: 2,
      options: `-c search_path=${opts.pgSchema}`,
    });
    db = new Kysely({ dialect: new PostgresDialect({ pool }), log: kyLog });
  }
  const rawQuery = async (sql, params) => {
    if (kind === 'sqlite') return raw.prepare(sql).all(...params);
    const { rows } = await pool.query(
      sql.replace(
        /\?/g,
        (() => {
          let k = 0;
          return () => `$${++k}`;
        })(),
      ),
      params,
    );
    return rows;
  };
  const services = { db, database: { kind } };
  const tenant = meta.tenantId;

  // Facts about the data.
  const total = (
    await rawQuery('select count(*) as n from messages where tenant_id = ?', [tenant])
  )[0].n;
  const info = { total_messages: Number(total), load: meta.load };
  log(`${kind}: ${info.total_messages} messages; server at ${srv.url}`);

  const results = [];
  const plans = {};
  const FUTURE = Date.UTC(2030, 0, 1);
  let httpRun = 0;
  // Filter values: a conversation from the middle of the history, the busiest contact.
  const filterValues = {
    conversation_id: (
      await rawQuery('select conversation_id as v from messages where rid = ?', [
        Math.floor(info.total_messages / 2),
      ])
    )[0].v,
    contact_id: (
      await rawQuery(
        'select contact_id as v, count(*) as n from messages where tenant_id = ? group by contact_id order by count(*) desc limit 1',
        [tenant],
      )
    )[0].v,
  };
  for (const c of CASES) {
    const filter = c.filter ? { [c.filter]: filterValues[c.filter] } : {};
    const label = `${c.q ?? '(no q)'}${c.filter ? ` + ${c.filter}` : ''}`;
    // What matches: by the index (all statuses) and by LIKE.
    const likeWhere = [
      'tenant_id = ?',
      ...(c.filter ? [`${c.filter} = ?`] : []),
      ...c.like.map(() => 'text like ?'),
    ].join(' and ');
    const likeParams = [tenant, ...Object.values(filter), ...c.like.map((t) => `%${t}%`)];
    const likeCount = Number(
      (await rawQuery(`select count(*) as n from messages where ${likeWhere}`, likeParams))[0].n,
    );
    let indexCount = null;
    if (c.q && !c.filter) {
      const plan = server.mod.planQuery(c.q);
      indexCount = Number(
        (kind === 'sqlite'
          ? await rawQuery('select count(*) as n from messages_fts where messages_fts match ?', [
              server.mod.toFts5(plan),
            ])
          : await rawQuery(
              `select count(*) as n from messages where search_vector @@ to_tsquery('simple', ?)`,
              [server.mod.toTsquery(plan)],
            ))[0].n,
      );
    }
    const input = { ...(c.q ? { q: c.q } : {}), ...filter, limit: 20 };
    // The SQL searchMessages builds (every statement), and their plans.
    captured = [];
    const first = await server.mod.searchMessages(services, tenant, input, {
      includeBlocked: false,
    });
    const stmts = captured;
    captured = null;
    const planText = [];
    for (const q of stmts) {
      if (kind === 'sqlite') {
        planText.push(
          raw
            .prepare(`explain query plan ${q.sql}`)
            .all(...q.params)
            .map((r) => `${r.id}/${r.parent} ${r.detail}`)
            .join('\n'),
        );
      } else {
        const { rows } = await pool.query(
          `explain (analyze, buffers, costs off) ${q.sql}`,
          q.params,
        );
        planText.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
      }
    }
    plans[`${c.name}: ${label}`] =
      `${stmts.map((q) => q.sql).join('\n-- then --\n')}\n\n${planText.join('\n-- then --\n')}`;
    log(
      `${kind} ${label}: index ${indexCount} matches, LIKE ${likeCount}; first page ${first.data.length} hits, has_more=${first.has_more}`,
    );

    const row = {
      case: c.name,
      q: c.q ?? '',
      filter: c.filter ?? null,
      index_matches: indexCount,
      like_matches: likeCount,
      pct: indexCount === null ? null : r2((100 * indexCount) / info.total_messages),
      statements: stmts.length,
    };
    // 1) the API over HTTP, cache-busted with a varying `to`.
    let misses = 0;
    // Our CPU: the server process and (PostgreSQL) its backends, found by application_name.
    // Backends may come and go (the pool closes idle ones): a vanished one keeps its last
    // reading, a new one counts from zero.
    const ourPids = async () =>
      kind === 'postgres'
        ? (
            await pool.query('select pid from pg_stat_activity where application_name = $1', [
              PG_APP,
            ])
          ).rows.map((r) => r.pid)
        : [];
    const backends = await ourPids();
    const cpu = cpuMeter([srv.pid, ...backends]);
    const cpu0 = new Map([srv.pid, ...backends].map((p) => [p, procCpuSeconds(p)]));
    const qs = new URLSearchParams({
      ...(c.q ? { q: c.q } : {}),
      ...filter,
      limit: '20',
    }).toString();
    row.http = await measure(async (i) => {
      const to = new Date(FUTURE + (httpRun++ % 1e9) * 1000).toISOString();
      const res = await fetchRetry(
        `${srv.url}/v1/messages/search?${qs}&to=${encodeURIComponent(to)}`,
        {
          headers: { authorization: `Bearer ${meta.apiKey}` },
        },
      );
      const body = await res.json();
      if (res.status !== 200) throw new Error(`search ${res.status}: ${JSON.stringify(body)}`);
      if (res.headers.get('x-cache') === 'miss') misses++;
      if (i === 0) row.http_hits = body.data.length;
    });
    row.http.cache_misses = misses;
    row.load = cpu();
    // Server-side CPU per request (server process + its PostgreSQL backends): unlike wall
    // time, hardly affected by other processes competing for the CPU.
    {
      const pids = new Set([srv.pid, ...cpu0.keys(), ...(await ourPids())]);
      let used = 0;
      for (const p of pids) {
        const now = procCpuSeconds(p);
        used += now === null ? 0 : now - (cpu0.get(p) ?? 0);
      }
      row.server_cpu_ms = r2((used * 1000) / (row.http.n + 3));
    }
    // 2) searchMessages in this process (no HTTP, no cache, no `to`).
    row.inproc = await measure(() =>
      server.mod.searchMessages(services, tenant, input, { includeBlocked: false }),
    );
    // 3) naive scans on the driver.
    if (!opts.onlyIndex && c.like.length > 0) {
      const top = `select * from messages where ${likeWhere} order by rid desc limit 20`;
      const cnt = `select count(*) as n from messages where ${likeWhere}`;
      row.like_top20 = await measure(() => rawQuery(top, likeParams));
      row.like_count = await measure(() => rawQuery(cnt, likeParams), { warmup: 1 });
    }
    const ms = (s) => (s ? `${r1(s.p50)}/${r1(s.p95)}` : '–');
    log(
      `${kind} ${label}: http p50/p95 ${ms(row.http)} ms (misses ${misses}/${row.http.n}, server CPU ${row.server_cpu_ms} ms/req); in-process ${ms(row.inproc)}; LIKE top-20 ${ms(row.like_top20)}; LIKE count ${ms(row.like_count)}; load ${JSON.stringify(row.load)}`,
    );
    results.push(row);
  }
  await srv.stop();
  await db.destroy();
  return { kind, info, results, plans };
}

// ---- report -----------------------------------------------------------------------------------

function procCpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return null;
  }
}

function report(machine, server, all) {
  const f = (x) => (x == null ? '–' : r1(x));
  const out = [];
  out.push(
    `Run ${machine.date_utc} — ${machine.nproc} × ${machine.cpu_model}, ${machine.ram_gib} GiB, Node ${machine.node}, load average at start ${machine.loadavg.join(' ')}`,
  );
  out.push(
    `Server: private build of packages/server/src at ${server.built_at} (git ${machine.git_head}, working tree${server.gitStatus ? ' with uncommitted changes' : ' clean'}).`,
  );
  for (const r of all) {
    out.push(
      '',
      `### ${r.kind} — ${r.info.total_messages.toLocaleString('en')} messages (load ${JSON.stringify(r.info.load)})`,
      '',
    );
    out.push(
      mdTable(
        [
          'case',
          'q',
          'matches (index / LIKE)',
          'API p50',
          'p95',
          'p99',
          'mean',
          'server CPU ms/req',
          'in-process p50 / p95',
          'LIKE top-20 p50 / p95',
          'LIKE count p50 / p95',
          'API p95 speed-up vs LIKE top-20 / count',
          'runs (API / LIKE top-20 + count)',
          'other load (cores)',
        ],
        r.results.map((x) => [
          x.case,
          x.q || '–',
          `${x.index_matches === null ? '–' : `${x.index_matches} (${x.pct}%)`} / ${x.like_matches}`,
          f(x.http.p50),
          f(x.http.p95),
          f(x.http.p99),
          f(x.http.mean),
          x.server_cpu_ms,
          `${f(x.inproc.p50)} / ${f(x.inproc.p95)}`,
          x.like_top20 ? `${f(x.like_top20.p50)} / ${f(x.like_top20.p95)}` : '–',
          x.like_count ? `${f(x.like_count.p50)} / ${f(x.like_count.p95)}` : '–',
          x.like_top20
            ? `${r1(x.like_top20.p95 / x.http.p95)}× / ${r1(x.like_count.p95 / x.http.p95)}×`
            : '–',
          `${x.http.n} / ${x.like_top20?.n ?? '–'} + ${x.like_count?.n ?? '–'}`,
          x.load.other_cores,
        ]),
      ),
    );
  }
  return out.join('\n');
}

// ---- main -------------------------------------------------------------------------------------

const machine = machineInfo();
log('machine', machine);
const built = await buildServer();
const server = { ...built, mod: await importServer(built.entry) };
const kinds = opts.db === 'both' ? ['sqlite', 'postgres'] : [opts.db];
const all = [];
for (const kind of kinds) all.push(await benchDb(kind, server));
const md = report(machine, server, all);
console.log(`\n${md}\n`);
const resultsDir = path.join(HERE, 'results');
fs.mkdirSync(resultsDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
fs.writeFileSync(
  path.join(resultsDir, `search-${stamp}.json`),
  JSON.stringify(
    { machine, opts, server: { built_at: server.built_at, gitStatus: server.gitStatus }, all },
    null,
    2,
  ),
);
fs.writeFileSync(
  path.join(resultsDir, `search-${stamp}.md`),
  `${md}\n\n${all
    .map(
      (r) =>
        `#### ${r.kind} plans\n\n${Object.entries(r.plans)
          .map(([q, p]) => `${q}:\n\`\`\`\n${p}\n\`\`\``)
          .join('\n\n')}`,
    )
    .join('\n\n')}\n`,
);
log(`results: bench/search/results/search-${stamp}.{json,md}`);

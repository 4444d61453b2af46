import { type Platform, SIDECAR_EVENT_TYPES, SidecarEvent } from '@astrdesk/protocol';
import { type Compilable, CompiledQuery, sql } from 'kysely';
import { toContact } from '../contacts/index.js';
import {
  applyTransition,
  getSettings,
  type MessageRow,
  pickAgent,
  toConversation,
  toMessage,
} from '../conversations/service.js';
import { newId } from '../infra/crypto/index.js';
import {
  chunkSizes,
  compileOnce,
  insertRows,
  runCompiled,
  type UpdateColumn,
  updateRows,
} from '../infra/db/compiled.js';
import type { Db, DbKind, Tx } from '../infra/db/index.js';
import type { ContactsTable, ConversationsTable } from '../infra/db/schema.js';
import type { Emit, EmitItem, EmitMany } from '../infra/events/index.js';
import { ApiError } from '../infra/http/errors.js';
import type { Services } from '../infra/services.js';
import { tokenize } from '../search/tokenize.js';

/**
 * Validates every event first: one bad event rejects the whole batch (400 naming its index),
 * before anything is written.
 */
export function parseBatch(events: unknown[]): SidecarEvent[] {
  return events.map((raw, i) => {
    const type = (raw as { type?: unknown } | null)?.type;
    if (!(SIDECAR_EVENT_TYPES as readonly unknown[]).includes(type)) {
      throw new ApiError(
        'validation_failed',
        `events[${i}]: unknown event type ${JSON.stringify(type ?? null)}; known: ${SIDECAR_EVENT_TYPES.join(', ')}`,
        {
          param: `events.${i}.type`,
          details: { index: i },
        },
      );
    }
    const r = SidecarEvent.safeParse(raw);
    if (r.success) return r.data;
    const issue = r.error.issues[0]!;
    throw new ApiError(
      'validation_failed',
      `events[${i}]: ${issue.path.join('.') || 'event'}: ${issue.message}`,
      {
        param: ['events', i, ...issue.path].join('.'),
        details: {
          index: i,
          issues: r.error.issues.map((x) => ({ path: x.path.join('.'), message: x.message })),
        },
      },
    );
  });
}

type InboundEvent = Extract<SidecarEvent, { type: 'message.inbound' | 'message.blocked' }>;
type OutboundEvent = Extract<SidecarEvent, { type: 'message.outbound_sent' }>;
type MessageDraft = Omit<MessageRow, 'rid'>;

/** One contact per platform + platform user id. */
const contactKey = (platform: string, userId: string) => `${platform}\u0000${userId}`;

/** Every column, in insert order; the checks below fail to compile when a table gains one. */
const CONTACT_COLUMNS = [
  'id',
  'tenant_id',
  'platform',
  'platform_user_id',
  'nickname',
  'avatar_url',
  'adapter',
  'first_seen_at',
  'last_seen_at',
] as const satisfies readonly (keyof ContactsTable)[];
const CONVERSATION_COLUMNS = [
  'id',
  'tenant_id',
  'contact_id',
  'instance_id',
  'platform',
  'session_id',
  'state',
  'assigned_agent_id',
  'transfer_from_agent_id',
  'transfer_to_agent_id',
  'transfer_note',
  'transfer_requested_at',
  'last_message_preview',
  'last_activity_at',
  'unread_count',
  'message_count',
  'created_at',
  'updated_at',
  'first_user_message_at',
  'first_agent_reply_at',
  'assigned_at',
  'closed_at',
  'close_reason',
  'handled_by',
  'handoff_count',
  'rating_score',
  'rating_comment',
  'rated_at',
] as const satisfies readonly (keyof ConversationsTable)[];
const MESSAGE_COLUMNS = [
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
] as const satisfies readonly (keyof MessageDraft)[];
type AllListed<T, L extends readonly unknown[]> = [Exclude<keyof T, L[number]>] extends [never]
  ? true
  : never;
const columnsComplete: [
  AllListed<ContactsTable, typeof CONTACT_COLUMNS>,
  AllListed<ConversationsTable, typeof CONVERSATION_COLUMNS>,
  AllListed<MessageDraft, typeof MESSAGE_COLUMNS>,
] = [true, true, true];
void columnsComplete;
const TRANSITION_COLUMNS = [
  'tenant_id',
  'conversation_id',
  'action',
  'from_state',
  'to_state',
  'actor',
  'reason',
  'created_at',
];
const INGESTED_COLUMNS = ['tenant_id', 'event_id', 'instance_id', 'message_id', 'created_at'];

/** What ingest changes on an existing conversation and contact (the rest is left alone). */
const CONVERSATION_UPDATE: readonly UpdateColumn[] = [
  ['last_activity_at', 'bigint'],
  ['last_message_preview', 'text'],
  ['unread_count', 'integer'],
  ['message_count', 'integer'],
  ['first_user_message_at', 'bigint'],
  ['instance_id', 'text'],
  ['session_id', 'text'],
  ['handled_by', 'text'],
  ['updated_at', 'bigint'],
];
const CONTACT_UPDATE: readonly UpdateColumn[] = [
  ['nickname', 'text'],
  ['avatar_url', 'text'],
  ['adapter', 'text'],
  ['last_seen_at', 'bigint'],
];

/** Keys per `IN (…)` look-up statement. */
const IN_CHUNK = 512;

/** `insert into messages_fts` for `n` rows (SQLite only; the table is not in the typed schema). */
const ftsInsertSql = new Map<number, string>();
function ftsInsert(n: number): string {
  let text = ftsInsertSql.get(n);
  if (!text) {
    text = `insert into messages_fts (rowid, tokens) values ${Array.from({ length: n }, () => '(?, ?)').join(', ')}`;
    ftsInsertSql.set(n, text);
  }
  return text;
}

/**
 * One batch being ingested. Events are applied in order against an in-memory copy of the
 * rows they touch (looked up set-based up front), so every event sees the effect of the ones
 * before it and emits exactly what it would have emitted alone; the writes are collected and
 * made set-based by `flush` (multi-row inserts, the final state of each changed row in one
 * `UPDATE … FROM (VALUES …)`, one seq reservation for all the batch's events). Paths that need the database to be current — auto-
 * assignment of a new conversation, an outbound reply matched by session only — flush first.
 */
class IngestBatch {
  readonly db: Db;
  readonly kind: DbKind;
  /** Contact id by `contactKey`, or null when the contact does not exist (yet). */
  readonly contactIdByKey = new Map<string, string | null>();
  /** The current state of every contact and conversation the batch has read or written. */
  readonly contacts = new Map<string, ContactsTable>();
  readonly convs = new Map<string, ConversationsTable>();
  /** A contact's open conversation (the newest not closed), or null: known for every contact the batch touches. */
  readonly openConv = new Map<string, string | null>();
  /** A contact's newest conversation in any state: known where blocked and outbound events need it. */
  readonly latestConv = new Map<string, string | null>();
  #autoAssign: boolean | undefined;

  // Pending writes, made by `flush` in this order (foreign keys: contacts ← conversations ←
  // messages).
  readonly newContacts = new Set<string>();
  readonly newConvs = new Set<string>();
  readonly transitions: unknown[][] = [];
  readonly messages: MessageDraft[] = [];
  readonly changedConvs = new Set<string>();
  readonly changedContacts = new Set<string>();
  readonly events: EmitItem[] = [];
  readonly ingested: unknown[][] = [];

  constructor(
    readonly s: Services,
    readonly tenantId: string,
    readonly instanceId: string,
    readonly tx: Tx,
    readonly emit: Emit,
    readonly emitMany: EmitMany,
  ) {
    this.db = s.db;
    this.kind = s.database.kind;
  }

  /**
   * PostgreSQL: one ingest transaction per tenant at a time, so two batches cannot both
   * create the same contact or open two conversations for it. (SQLite runs one transaction
   * at a time anyway.)
   */
  async lockTenant() {
    if (this.kind === 'postgres')
      await sql`select pg_advisory_xact_lock(hashtext(${`astrdesk:ingest:${this.tenantId}`}))`.execute(
        this.tx,
      );
  }

  /**
   * Runs a compiled `… IN (…)` look-up over `keys`; `fixed` are the parameters before the
   * list. A list is padded to a power of two by repeating its last key (harmless in `IN`), so
   * a batch takes one statement per look-up and only a few list lengths are ever compiled.
   */
  async #selectIn<R>(
    name: string,
    fixed: readonly unknown[],
    keys: readonly string[],
    build: (db: Db, list: string[]) => Compilable<unknown>,
  ): Promise<R[]> {
    const out: R[] = [];
    for (let at = 0; at < keys.length; at += IN_CHUNK) {
      const chunk = keys.slice(at, at + IN_CHUNK);
      let n = 1;
      while (n < chunk.length) n *= 2;
      const q = compileOnce(this.db, `ingest:${name}:${n}`, fixed.length + n, (db) =>
        build(
          db,
          Array.from({ length: n }, () => ''),
        ),
      );
      const params = [...fixed, ...chunk];
      while (params.length < fixed.length + n) params.push(chunk[chunk.length - 1]);
      const rows = await runCompiled<R>(this.tx, q, params);
      for (const r of rows) out.push(r);
    }
    return out;
  }

  /** Event ids this tenant has ingested before, with the message each produced. */
  async alreadyIngested(ids: readonly string[]): Promise<Map<string, string | null>> {
    const rows = await this.#selectIn<{ event_id: string; message_id: string | null }>(
      'seen',
      [this.tenantId],
      [...new Set(ids)],
      (db, list) =>
        db
          .selectFrom('ingested_events')
          .select(['event_id', 'message_id'])
          .where('tenant_id', '=', '')
          .where('event_id', 'in', list),
    );
    return new Map(rows.map((r) => [r.event_id, r.message_id]));
  }

  /**
   * Reads, set-based, what the events will touch: their contacts, the contacts' open
   * conversations, and the newest conversation where a blocked or outbound event needs it.
   * On PostgreSQL the rows are locked, as the per-event updates used to lock them.
   */
  async prefetch(events: readonly SidecarEvent[]) {
    const pg = this.kind === 'postgres';
    const usersByPlatform = new Map<string, Set<string>>();
    for (const e of events) {
      const userId = e.data.platform_user_id;
      if (userId === undefined) continue;
      let users = usersByPlatform.get(e.data.platform);
      if (!users) {
        users = new Set();
        usersByPlatform.set(e.data.platform, users);
      }
      users.add(userId);
    }
    for (const [platform, users] of usersByPlatform) {
      for (const u of users) this.contactIdByKey.set(contactKey(platform, u), null);
      const rows = await this.#selectIn<ContactsTable>(
        'contacts',
        [this.tenantId, platform],
        [...users],
        (db, list) =>
          db
            .selectFrom('contacts')
            .selectAll()
            .where('tenant_id', '=', '')
            .where('platform', '=', '')
            .where('platform_user_id', 'in', list)
            .$if(pg, (q) => q.forUpdate()),
      );
      for (const r of rows) {
        this.contacts.set(r.id, r);
        this.contactIdByKey.set(contactKey(r.platform, r.platform_user_id), r.id);
      }
    }
    const contactIds = [...this.contacts.keys()];
    for (const id of contactIds) this.openConv.set(id, null);
    const open = await this.#selectIn<ConversationsTable>(
      'open',
      [this.tenantId, 'closed'],
      contactIds,
      (db, list) =>
        db
          .selectFrom('conversations')
          .selectAll()
          .where('tenant_id', '=', '')
          .where('state', '!=', '')
          .where('contact_id', 'in', list)
          .$if(pg, (q) => q.forUpdate()),
    );
    for (const c of open) {
      this.convs.set(c.id, c);
      const current = this.openConv.get(c.contact_id);
      if (!current || c.created_at > this.convs.get(current)!.created_at)
        this.openConv.set(c.contact_id, c.id);
    }
    const needLatest = new Set<string>();
    for (const e of events) {
      const userId = e.data.platform_user_id;
      if (userId === undefined || e.type === 'message.inbound') continue;
      const id = this.contactIdByKey.get(contactKey(e.data.platform, userId));
      if (id && (e.type === 'message.outbound_sent' || !this.openConv.get(id))) needLatest.add(id);
    }
    for (const contactId of needLatest) {
      const q = compileOnce(this.db, 'ingest:latest', 3, (db) =>
        db
          .selectFrom('conversations')
          .selectAll()
          .where('tenant_id', '=', '')
          .where('contact_id', '=', '')
          .orderBy('created_at', 'desc')
          .limit(1)
          .$if(pg, (q) => q.forUpdate()),
      );
      const [row] = await runCompiled<ConversationsTable>(this.tx, q, [
        this.tenantId,
        contactId,
        1,
      ]);
      if (row && !this.convs.has(row.id)) this.convs.set(row.id, row);
      this.latestConv.set(contactId, row?.id ?? null);
    }
  }

  /** The tenant's auto-assign setting, read once per batch (nothing in a batch changes it). */
  async #autoAssignOn(): Promise<boolean> {
    this.#autoAssign ??= (await getSettings(this.tx, this.tenantId)).auto_assign;
    return this.#autoAssign;
  }

  #setConv(next: ConversationsTable) {
    this.convs.set(next.id, next);
    if (!this.newConvs.has(next.id)) this.changedConvs.add(next.id);
  }

  #addMessage(row: Omit<MessageDraft, 'search_tokens'>): MessageDraft {
    // Internal notes and system lines are searchable too; blocked messages are (admins search them).
    const draft = { ...row, search_tokens: tokenize(row.text) || null };
    this.messages.push(draft);
    return draft;
  }

  #upsertContact(d: InboundEvent['data'], now: number): ContactsTable {
    const key = contactKey(d.platform, d.platform_user_id);
    const seen = Date.parse(d.sent_at);
    const id = this.contactIdByKey.get(key);
    const existing = id ? this.contacts.get(id) : undefined;
    if (!existing) {
      const row: ContactsTable = {
        id: newId('contact', now),
        tenant_id: this.tenantId,
        platform: d.platform,
        platform_user_id: d.platform_user_id,
        nickname: d.nickname ?? null,
        avatar_url: d.avatar_url ?? null,
        adapter: d.adapter ?? null,
        first_seen_at: seen,
        last_seen_at: seen,
      };
      this.contacts.set(row.id, row);
      this.contactIdByKey.set(key, row.id);
      this.newContacts.add(row.id);
      this.events.push({ type: 'contact.created', data: { contact: toContact(row) } });
      return row;
    }
    const next = {
      ...existing,
      nickname: d.nickname ?? existing.nickname,
      avatar_url: d.avatar_url ?? existing.avatar_url,
      adapter: d.adapter ?? existing.adapter,
      last_seen_at: Math.max(existing.last_seen_at, seen),
    };
    const profileChanged =
      next.nickname !== existing.nickname ||
      next.avatar_url !== existing.avatar_url ||
      next.adapter !== existing.adapter;
    if (!profileChanged && next.last_seen_at === existing.last_seen_at) return existing;
    this.contacts.set(next.id, next);
    if (!this.newContacts.has(next.id)) this.changedContacts.add(next.id);
    if (profileChanged)
      this.events.push({ type: 'contact.updated', data: { contact: toContact(next) } });
    return next;
  }

  /** The contact's open conversation, or a new one (which routing may assign at once). */
  async #conversationFor(
    contact: ContactsTable,
    sessionId: string,
    platform: Platform,
    blocked: boolean,
    now: number,
  ): Promise<ConversationsTable> {
    const openId = this.openConv.get(contact.id);
    if (openId) return this.convs.get(openId)!;
    if (blocked) {
      // A blocked user's message must not put work in the queue: keep it with their latest
      // conversation, or in a closed one made to hold it.
      const latestId = this.latestConv.get(contact.id);
      if (latestId) return this.convs.get(latestId)!;
    }
    const row: ConversationsTable = {
      id: newId('conversation', now),
      tenant_id: this.tenantId,
      contact_id: contact.id,
      instance_id: this.instanceId,
      platform,
      session_id: sessionId,
      state: blocked ? 'closed' : 'waiting',
      assigned_agent_id: null,
      transfer_from_agent_id: null,
      transfer_to_agent_id: null,
      transfer_note: null,
      transfer_requested_at: null,
      last_message_preview: null,
      last_activity_at: now,
      unread_count: 0,
      message_count: 0,
      created_at: now,
      updated_at: now,
      first_user_message_at: null,
      first_agent_reply_at: null,
      assigned_at: null,
      closed_at: blocked ? now : null,
      close_reason: blocked ? 'blocked_by_blacklist' : null,
      handled_by: null,
      handoff_count: 0,
      rating_score: null,
      rating_comment: null,
      rated_at: null,
    };
    this.convs.set(row.id, row);
    this.newConvs.add(row.id);
    this.latestConv.set(contact.id, row.id);
    if (!blocked) this.openConv.set(contact.id, row.id);
    this.transitions.push([
      this.tenantId,
      row.id,
      'open',
      null,
      row.state,
      `instance:${this.instanceId}`,
      blocked ? 'blocked_by_blacklist' : null,
      now,
    ]);
    this.events.push({
      type: 'conversation.created',
      data: { conversation: toConversation(row) },
      ...(blocked ? { visibility: 'admin' as const } : {}),
    });
    if (!blocked && (await this.#autoAssignOn())) {
      // Routing counts each agent's active conversations and applyTransition writes and emits
      // directly, so everything before this event must be in the database (and the log) first.
      await this.flush();
      const agent = await pickAgent(this.tx, this.tenantId, now);
      if (agent) {
        const next = await applyTransition(
          this.tx,
          this.emit,
          { tenantId: this.tenantId, dbKind: this.kind, now },
          row,
          { label: 'system:routing', memberId: null, privileged: true },
          { action: 'assign', agentId: agent },
        );
        this.convs.set(next.id, next);
        return next;
      }
    }
    return row;
  }

  /** A user message AstrBot received, or one the blacklist stopped. Returns the message id. */
  async inbound(e: InboundEvent, now: number): Promise<string> {
    const d = e.data;
    const blocked = e.type === 'message.blocked';
    const contact = this.#upsertContact(d, now);
    let conv = await this.#conversationFor(contact, d.session_id, d.platform, blocked, now);
    const sentAt = Date.parse(d.sent_at);
    const msg = this.#addMessage({
      id: newId('message', now),
      tenant_id: this.tenantId,
      conversation_id: conv.id,
      contact_id: contact.id,
      sender: 'user',
      agent_id: null,
      kind: d.kind,
      text: d.text ?? null,
      media: d.media ? JSON.stringify(d.media) : null,
      status: blocked ? 'blocked_by_blacklist' : 'received',
      internal: 0,
      platform_message_id: d.platform_message_id,
      created_at: sentAt,
    });
    if (!blocked) {
      conv = {
        ...conv,
        last_activity_at: Math.max(conv.last_activity_at, now),
        last_message_preview: (d.text ?? `[${d.kind}]`).slice(0, 200),
        unread_count: conv.unread_count + 1,
        message_count: conv.message_count + 1,
        first_user_message_at: conv.first_user_message_at ?? sentAt,
        instance_id: this.instanceId,
        session_id: d.session_id,
        updated_at: now,
      };
      this.#setConv(conv);
      this.events.push({
        type: 'message.created',
        data: { message: toMessage(msg), conversation: toConversation(conv) },
      });
    } else {
      const b = e as Extract<SidecarEvent, { type: 'message.blocked' }>;
      this.events.push({
        type: 'message.blocked',
        data: {
          message: toMessage(msg),
          contact: toContact(contact),
          reason: b.data.reason ?? null,
          entry_id: b.data.entry_id ?? null,
        },
        visibility: 'admin',
      });
    }
    return msg.id;
  }

  /** What AstrBot replied by itself. Returns the message id, or null with nothing to attach it to. */
  async outbound(e: OutboundEvent, now: number): Promise<string | null> {
    const d = e.data;
    let conv: ConversationsTable | undefined;
    if (d.platform_user_id) {
      const contactId = this.contactIdByKey.get(contactKey(d.platform, d.platform_user_id));
      const latestId = contactId ? this.latestConv.get(contactId) : undefined;
      if (latestId) conv = this.convs.get(latestId);
    }
    if (!conv) {
      // Matched by session only (rare): the session a conversation has may have changed
      // earlier in this batch, so ask the database once it has everything.
      await this.flush();
      const row = await this.tx
        .selectFrom('conversations')
        .selectAll()
        .where('tenant_id', '=', this.tenantId)
        .where('session_id', '=', d.session_id)
        .orderBy('created_at', 'desc')
        .executeTakeFirst();
      if (row) {
        conv = this.convs.get(row.id) ?? row;
        this.convs.set(conv.id, conv);
      }
    }
    if (!conv) return null; // a reply to someone we never saw: nothing to attach it to
    const msg = this.#addMessage({
      id: newId('message', now),
      tenant_id: this.tenantId,
      conversation_id: conv.id,
      contact_id: conv.contact_id,
      sender: 'bot',
      agent_id: null,
      kind: d.kind,
      text: d.text ?? null,
      media: d.media ? JSON.stringify(d.media) : null,
      status: 'sent',
      internal: 0,
      platform_message_id: d.platform_message_id ?? null,
      created_at: Date.parse(d.sent_at),
    });
    const next = {
      ...conv,
      last_activity_at: now,
      message_count: conv.message_count + 1,
      handled_by: conv.handled_by ?? 'bot',
      updated_at: now,
      last_message_preview: (d.text ?? `[${d.kind}]`).slice(0, 200),
    };
    this.#setConv(next);
    this.events.push({
      type: 'message.created',
      data: { message: toMessage(msg), conversation: toConversation(next) },
    });
    return msg.id;
  }

  /** Writes everything pending, set-based, in foreign-key order; events last, in event order. */
  async flush() {
    const { db, tx } = this;
    if (this.newContacts.size > 0) {
      const rows = [...this.newContacts].map((id) => {
        const c = this.contacts.get(id)!;
        return CONTACT_COLUMNS.map((k) => c[k]);
      });
      await insertRows(db, tx, 'contacts', CONTACT_COLUMNS, rows);
      this.newContacts.clear();
    }
    if (this.newConvs.size > 0) {
      const rows = [...this.newConvs].map((id) => {
        const c = this.convs.get(id)!;
        return CONVERSATION_COLUMNS.map((k) => c[k]);
      });
      await insertRows(db, tx, 'conversations', CONVERSATION_COLUMNS, rows);
      this.newConvs.clear();
    }
    if (this.transitions.length > 0) {
      await insertRows(db, tx, 'conversation_transitions', TRANSITION_COLUMNS, this.transitions);
      this.transitions.length = 0;
    }
    if (this.messages.length > 0) {
      const rows = this.messages.map((m) => MESSAGE_COLUMNS.map((k) => m[k]));
      const inserted = await insertRows<{ id: string; rid: number }>(
        db,
        tx,
        'messages',
        MESSAGE_COLUMNS,
        rows,
        ['id', 'rid'],
      );
      if (this.kind === 'sqlite') {
        const ridById = new Map(inserted.map((r) => [r.id, r.rid]));
        const fts: unknown[] = [];
        for (const m of this.messages)
          if (m.search_tokens) fts.push(ridById.get(m.id), m.search_tokens);
        let at = 0;
        for (const n of chunkSizes(fts.length / 2, 256)) {
          await tx.executeQuery(CompiledQuery.raw(ftsInsert(n), fts.slice(at, at + 2 * n)));
          at += 2 * n;
        }
      }
      this.messages.length = 0;
    }
    if (this.changedConvs.size > 0) {
      const rows = [...this.changedConvs].map((id) => {
        const c = this.convs.get(id)!;
        return [
          c.id,
          c.last_activity_at,
          c.last_message_preview,
          c.unread_count,
          c.message_count,
          c.first_user_message_at,
          c.instance_id,
          c.session_id,
          c.handled_by,
          c.updated_at,
        ];
      });
      await updateRows(this.kind, tx, 'conversations', ['id', 'text'], CONVERSATION_UPDATE, rows);
      this.changedConvs.clear();
    }
    if (this.changedContacts.size > 0) {
      const rows = [...this.changedContacts].map((id) => {
        const c = this.contacts.get(id)!;
        return [c.id, c.nickname, c.avatar_url, c.adapter, c.last_seen_at];
      });
      await updateRows(this.kind, tx, 'contacts', ['id', 'text'], CONTACT_UPDATE, rows);
      this.changedContacts.clear();
    }
    if (this.events.length > 0) {
      await this.emitMany(this.events.splice(0));
    }
    if (this.ingested.length > 0) {
      await insertRows(db, tx, 'ingested_events', INGESTED_COLUMNS, this.ingested);
      this.ingested.length = 0;
    }
  }
}

/**
 * Ingests a validated batch in one transaction, idempotent on event ids: an id seen before
 * (in an earlier batch or earlier in this one) is not applied again and answers with the
 * message it produced the first time, so a replayed batch answers exactly as the original
 * did, and a batch mixing new and replayed ids applies only the new ones.
 */
export async function ingestBatch(
  s: Services,
  tenantId: string,
  instanceId: string,
  events: SidecarEvent[],
) {
  return s.events.transact(tenantId, async (tx, emit, emitMany) => {
    const batch = new IngestBatch(s, tenantId, instanceId, tx, emit, emitMany);
    await batch.lockTenant();
    const seen = await batch.alreadyIngested(events.map((e) => e.id));
    await batch.prefetch(events.filter((e) => !seen.has(e.id)));
    const results: Array<{ id: string; message_id: string | null }> = [];
    for (const e of events) {
      if (seen.has(e.id)) {
        results.push({ id: e.id, message_id: seen.get(e.id) ?? null });
        continue;
      }
      const now = s.now();
      const messageId =
        e.type === 'message.outbound_sent'
          ? await batch.outbound(e, now)
          : await batch.inbound(e, now);
      batch.ingested.push([tenantId, e.id, instanceId, messageId, now]);
      seen.set(e.id, messageId);
      results.push({ id: e.id, message_id: messageId });
    }
    await batch.flush();
    return { object: 'ingest_result' as const, accepted: results.length, results };
  });
}

import type { BlacklistChange, BlacklistEntry, Platform, SyncEntry } from '@astrdesk/protocol';
import type { Selectable } from 'kysely';
import { newId } from '../infra/crypto/index.js';
import { type Db, iso, type Tx } from '../infra/db/index.js';
import type { BlacklistChangesTable, BlacklistEntriesTable } from '../infra/db/schema.js';
import type { Emit } from '../infra/events/index.js';

export type EntryRow = Selectable<BlacklistEntriesTable>;

export function toEntry(r: EntryRow, now: number): BlacklistEntry {
  return {
    id: r.id,
    object: 'blacklist_entry',
    platform: r.platform as Platform,
    platform_user_id: r.platform_user_id,
    reason: r.reason,
    expires_at: iso(r.expires_at),
    active: r.expires_at === null || r.expires_at > now,
    operator: r.operator,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
  };
}

export function toSyncEntry(r: {
  id?: string;
  entry_id?: string;
  platform: string;
  platform_user_id: string;
  reason: string | null;
  expires_at: number | null;
}): SyncEntry {
  return {
    id: (r.id ?? r.entry_id)!,
    platform: r.platform as Platform,
    platform_user_id: r.platform_user_id,
    reason: r.reason,
    expires_at: r.expires_at === null ? null : Number(r.expires_at),
  };
}

export function toChange(r: Selectable<BlacklistChangesTable>): BlacklistChange {
  return r.op === 'delete'
    ? {
        op: 'delete',
        revision: Number(r.revision),
        id: r.entry_id,
        platform: r.platform,
        platform_user_id: r.platform_user_id,
      }
    : { op: 'upsert', revision: Number(r.revision), entry: toSyncEntry(r) };
}

/**
 * Writes blacklist changes for one tenant inside `tx`: each change bumps the tenant's revision,
 * writes the change-log row and the audit row, all in the same transaction as the entry
 * itself. Call `finish()` once at the end to emit one `blacklist.changed` event, which is how
 * sidecar channels on every replica learn there is something to push.
 */
export class BlacklistWriter {
  #revision: number | undefined;
  #from: number | undefined;
  #count = 0;

  constructor(
    private readonly tx: Tx,
    private readonly tenantId: string,
    private readonly actor: string,
    private readonly now: number,
  ) {}

  async #nextRevision(): Promise<number> {
    if (this.#revision === undefined) {
      // Lock the counter row for the rest of the transaction; revisions follow commit order.
      const row = await this.tx
        .insertInto('blacklist_revisions')
        .values({ tenant_id: this.tenantId, revision: 0 })
        .onConflict((oc) =>
          oc
            .column('tenant_id')
            .doUpdateSet((eb) => ({ revision: eb.ref('blacklist_revisions.revision') })),
        )
        .returning('revision')
        .executeTakeFirstOrThrow();
      this.#revision = Number(row.revision);
      this.#from = this.#revision;
    }
    this.#revision += 1;
    this.#count += 1;
    return this.#revision;
  }

  async upsert(before: EntryRow | undefined, after: EntryRow): Promise<number> {
    const revision = await this.#nextRevision();
    if (before) {
      await this.tx
        .updateTable('blacklist_entries')
        .set({
          reason: after.reason,
          expires_at: after.expires_at,
          operator: after.operator,
          updated_at: after.updated_at,
        })
        .where('id', '=', after.id)
        .execute();
    } else {
      await this.tx.insertInto('blacklist_entries').values(after).execute();
    }
    await this.#log('upsert', after, revision);
    await this.#audit(before ? 'update' : 'add', before, after, revision);
    return revision;
  }

  async remove(before: EntryRow): Promise<number> {
    const revision = await this.#nextRevision();
    await this.tx.deleteFrom('blacklist_entries').where('id', '=', before.id).execute();
    await this.#log('delete', before, revision);
    await this.#audit('remove', before, undefined, revision);
    return revision;
  }

  async #log(op: 'upsert' | 'delete', e: EntryRow, revision: number) {
    await this.tx
      .insertInto('blacklist_changes')
      .values({
        tenant_id: this.tenantId,
        revision,
        op,
        entry_id: e.id,
        platform: e.platform,
        platform_user_id: e.platform_user_id,
        reason: op === 'delete' ? null : e.reason,
        expires_at: op === 'delete' ? null : e.expires_at,
        created_at: this.now,
      })
      .execute();
  }

  async #audit(
    action: 'add' | 'update' | 'remove',
    before: EntryRow | undefined,
    after: EntryRow | undefined,
    revision: number,
  ) {
    const e = (after ?? before)!;
    await this.tx
      .insertInto('blacklist_audit')
      .values({
        tenant_id: this.tenantId,
        action,
        entry_id: e.id,
        platform: e.platform,
        platform_user_id: e.platform_user_id,
        before: before ? JSON.stringify(toEntry(before, this.now)) : null,
        after: after ? JSON.stringify(toEntry(after, this.now)) : null,
        actor: this.actor,
        revision,
        created_at: this.now,
      })
      .execute();
  }

  /** Saves the new revision and emits `blacklist.changed`; returns the tenant's revision. */
  async finish(emit: Emit): Promise<number> {
    if (this.#revision === undefined) return currentRevisionTx(this.tx, this.tenantId);
    await this.tx
      .updateTable('blacklist_revisions')
      .set({ revision: this.#revision })
      .where('tenant_id', '=', this.tenantId)
      .execute();
    await emit(
      'blacklist.changed',
      { from_revision: this.#from!, revision: this.#revision, changes: this.#count },
      { visibility: 'admin' },
    );
    return this.#revision;
  }
}

async function currentRevisionTx(db: Db | Tx, tenantId: string) {
  const r = await db
    .selectFrom('blacklist_revisions')
    .select('revision')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return r ? Number(r.revision) : 0;
}

export function newEntryRow(
  tenantId: string,
  input: {
    platform: string;
    platform_user_id: string;
    reason?: string | null | undefined;
    expires_at?: number | null | undefined;
  },
  actor: string,
  now: number,
): EntryRow {
  return {
    id: newId('blacklist', now),
    tenant_id: tenantId,
    platform: input.platform,
    platform_user_id: input.platform_user_id,
    reason: input.reason ?? null,
    expires_at: input.expires_at ?? null,
    operator: actor,
    created_at: now,
    updated_at: now,
  };
}

/** Changes after `since` (exclusive), oldest first; `undefined` when the log no longer reaches back that far. */
export async function changesSince(
  db: Db,
  tenantId: string,
  since: number,
  limit = 10_000,
): Promise<BlacklistChange[] | undefined> {
  const rows = await db
    .selectFrom('blacklist_changes')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('revision', '>', since)
    .orderBy('revision', 'asc')
    .limit(limit)
    .execute();
  if (rows.length > 0 && Number(rows[0]!.revision) !== since + 1) return undefined;
  if (rows.length === 0) {
    const current = await currentRevisionTx(db, tenantId);
    if (current > since) return undefined;
  }
  return rows.map(toChange);
}

/**
 * Trims the change log: rows older than `retentionMs` that every instance of the tenant has
 * applied, and any row older than `hardLimitMs` (sidecars that far behind take a snapshot).
 */
export async function compactChangeLog(
  db: Db,
  now: number,
  retentionMs: number,
  hardLimitMs: number,
): Promise<number> {
  let deleted = 0;
  const tenants = await db.selectFrom('blacklist_revisions').select('tenant_id').execute();
  for (const { tenant_id } of tenants) {
    const min = await db
      .selectFrom('instances')
      .select((eb) => eb.fn.min('applied_revision').as('m'))
      .where('tenant_id', '=', tenant_id)
      .executeTakeFirst();
    const applied = min?.m == null ? Number.MAX_SAFE_INTEGER : Number(min.m);
    const r = await db
      .deleteFrom('blacklist_changes')
      .where('tenant_id', '=', tenant_id)
      .where((eb) =>
        eb.or([
          eb.and([eb('created_at', '<', now - retentionMs), eb('revision', '<=', applied)]),
          eb('created_at', '<', now - hardLimitMs),
        ]),
      )
      .executeTakeFirst();
    deleted += Number(r.numDeletedRows);
  }
  return deleted;
}

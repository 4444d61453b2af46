import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { AstrDeskError } from '../error.js';
import { path } from '../internal/utils.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type {
  BlacklistAuditEntry,
  BlacklistAuditParams,
  BlacklistBatchRemoveParams,
  BlacklistBatchRemoveResult,
  BlacklistBatchResult,
  BlacklistCheck,
  BlacklistCheckParams,
  BlacklistEntry,
  BlacklistListParams,
  BlacklistStats,
  BlacklistStatsParams,
  CreateBlacklistEntryParams,
  Deleted,
  UpdateBlacklistEntryParams,
} from '../types.js';

/**
 * The tenant's blacklist: users, by `(platform, platform_user_id)`, whose messages every
 * connected sidecar blocks. Each change bumps the tenant's blacklist revision; an instance's
 * `sync` (from `client.instances.retrieve(id)`) tells whether its sidecar has applied it.
 */
export class BlacklistResource extends APIResource {
  /**
   * Blocks a user (`POST /v1/blacklist`, scope `blacklist:write`). `expires_at` (a Date or an
   * ISO string, in the future) makes the entry temporary. A pair already on the list answers
   * `ConflictError` `already_exists` with `details.entry_id`: use {@link update}, or
   * {@link batch}, which updates existing pairs.
   */
  create(body: CreateBlacklistEntryParams, options?: RequestOptions): APIPromise<BlacklistEntry> {
    return this._client.post('/v1/blacklist', { ...options, body: withISOExpiry(body) });
  }

  /**
   * Blocks up to 1,000 users in one transaction (`POST /v1/blacklist/batch`). Each item gets a
   * result, in order: `created`, `updated` (the pair existed: reason and expiry replaced) or
   * `invalid` with its `error` (a pair repeated in the batch is invalid after its first
   * occurrence); the valid items are written together. More than 1,000 items answer
   * `BadRequestError` and nothing is written.
   */
  batch(
    entries: readonly CreateBlacklistEntryParams[],
    options?: RequestOptions,
  ): APIPromise<BlacklistBatchResult> {
    return this._client.post('/v1/blacklist/batch', {
      ...options,
      body: { entries: entries.map(withISOExpiry) },
    });
  }

  /** Unblocks a user by entry id (`DELETE /v1/blacklist/{id}`). */
  remove(id: string, options?: RequestOptions): APIPromise<Deleted> {
    return this._client.delete(path`/v1/blacklist/${id}`, options);
  }

  /**
   * Unblocks users by entry `ids`, by `(platform, platform_user_id)` `pairs`, or both, up to
   * 1,000 in all (`POST /v1/blacklist/batch-delete`). Unknown ones count as `not_found`.
   */
  batchRemove(
    body: BlacklistBatchRemoveParams,
    options?: RequestOptions,
  ): APIPromise<BlacklistBatchRemoveResult> {
    return this._client.post('/v1/blacklist/batch-delete', { ...options, body });
  }

  /**
   * Changes an entry's `reason` or `expires_at` (`PATCH /v1/blacklist/{id}`); `null` clears
   * the reason, or makes the entry permanent. `expires_at` may be a Date.
   */
  update(
    id: string,
    body: UpdateBlacklistEntryParams,
    options?: RequestOptions,
  ): APIPromise<BlacklistEntry> {
    return this._client.patch(path`/v1/blacklist/${id}`, { ...options, body: withISOExpiry(body) });
  }

  /** One entry (`GET /v1/blacklist/{id}`, scope `blacklist:read`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<BlacklistEntry> {
    return this._client.get(path`/v1/blacklist/${id}`, options);
  }

  /**
   * Entries, newest first (`GET /v1/blacklist`), by `q` (a substring of the user id or the
   * reason), `platform`, `status` (`active` or `expired`) and `operator` (who added it, e.g.
   * `member:usr_...`). Iterate with `for await` to walk every page.
   */
  list(query: BlacklistListParams = {}, options?: RequestOptions): PagePromise<BlacklistEntry> {
    return this._client.getAPIList<BlacklistEntry>('/v1/blacklist', { ...query }, options);
  }

  /**
   * Whether a user is blocked right now (`GET /v1/blacklist/check`): `{ blocked, entry }`. An
   * expired entry is returned with `blocked: false`.
   */
  check(query: BlacklistCheckParams, options?: RequestOptions): APIPromise<BlacklistCheck> {
    return this._client.get('/v1/blacklist/check', {
      ...options,
      query: { platform: query.platform, user_id: query.user_id },
    });
  }

  /**
   * Every add, update and remove, newest first, with the actor and the entry before and after
   * (`GET /v1/blacklist/audit`), optionally for one `entry_id` or `platform_user_id`.
   */
  audit(
    query: BlacklistAuditParams = {},
    options?: RequestOptions,
  ): PagePromise<BlacklistAuditEntry> {
    return this._client.getAPIList<BlacklistAuditEntry>(
      '/v1/blacklist/audit',
      { ...query },
      options,
    );
  }

  /**
   * Blocked messages per user (the top `limit`, default 50) and per day, from `from` to `to`
   * (Dates or ISO strings; default the last 30 days), and the counts of active and expired
   * entries (`GET /v1/blacklist/stats`).
   */
  stats(query: BlacklistStatsParams = {}, options?: RequestOptions): APIPromise<BlacklistStats> {
    return this._client.get('/v1/blacklist/stats', {
      ...options,
      query: { from: query.from, to: query.to, limit: query.limit },
    });
  }
}

/**
 * The body with a Date `expires_at` as an ISO string. Anything else (a string, `null`, an item
 * the server will reject) is sent as given, so the server's per-item errors say what was sent.
 */
function withISOExpiry<T>(body: T): T {
  if (typeof body !== 'object' || body === null) return body;
  const expires = (body as { expires_at?: unknown }).expires_at;
  if (!(expires instanceof Date)) return body;
  if (Number.isNaN(expires.getTime())) throw new AstrDeskError('expires_at is an invalid Date');
  return { ...body, expires_at: expires.toISOString() };
}

import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { APIResource } from '../resource.js';
import type { Presence, PresenceList, SetPresenceParams } from '../types.js';

/** Who is online, and how many conversations each member holds. */
export class PresenceResource extends APIResource {
  /** Presence of every enabled member (`GET /v1/presence`, scope `members:read`). */
  list(options?: RequestOptions): APIPromise<PresenceList> {
    return this._client.get('/v1/presence', options);
  }

  /**
   * Sets your own status, `online`, `away` or `offline` (`PUT /v1/presence`, member sessions
   * only). The effective `status` is this while you hold a realtime connection, else `offline`.
   */
  set(body: SetPresenceParams, options?: RequestOptions): APIPromise<Presence> {
    return this._client.put('/v1/presence', { ...options, body });
  }
}

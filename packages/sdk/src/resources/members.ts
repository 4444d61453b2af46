import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { path } from '../internal/utils.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type {
  CreatedMember,
  CreateMemberRequest,
  ListParams,
  Member,
  UpdateMemberRequest,
} from '../types.js';

export class MembersResource extends APIResource {
  /**
   * Invites a member (`POST /v1/members`, scope `members:write`). Without `password` the answer
   * carries a one-time `invite_token` for {@link AuthResource.acceptInvite}.
   */
  create(body: CreateMemberRequest, options?: RequestOptions): APIPromise<CreatedMember> {
    return this._client.post('/v1/members', { ...options, body });
  }

  /** Members, newest first (`GET /v1/members`, scope `members:read`). */
  list(query: ListParams = {}, options?: RequestOptions): PagePromise<Member> {
    return this._client.getAPIList<Member>('/v1/members', query, options);
  }

  /** One member (`GET /v1/members/{id}`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<Member> {
    return this._client.get(path`/v1/members/${id}`, options);
  }

  /** Changes a member's role, name or disabled flag (`PATCH /v1/members/{id}`, scope `members:write`). */
  update(id: string, body: UpdateMemberRequest, options?: RequestOptions): APIPromise<Member> {
    return this._client.patch(path`/v1/members/${id}`, { ...options, body });
  }
}

import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { APIResource } from '../resource.js';
import type { SignupRequest, SignupResponse, Tenant, TenantUpdate } from '../types.js';

export class TenantResource extends APIResource {
  /** The tenant the credential belongs to (`GET /v1/tenant`, scope `tenant:read`). */
  retrieve(options?: RequestOptions): APIPromise<Tenant> {
    return this._client.get('/v1/tenant', options);
  }

  /** Updates the company profile (`PATCH /v1/tenant`, scope `tenant:write`). `null` clears an optional field. */
  update(body: TenantUpdate, options?: RequestOptions): APIPromise<Tenant> {
    return this._client.patch('/v1/tenant', { ...options, body });
  }

  /**
   * Registers a company and its owner (`POST /v1/signup`, public: needs no credential). The
   * tenant starts `pending` unless the operator's auto-approval policy matches.
   */
  signup(body: SignupRequest, options?: RequestOptions): APIPromise<SignupResponse> {
    return this._client.post('/v1/signup', { ...options, body });
  }
}

import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { APIResource } from '../resource.js';
import type { AcceptInviteRequest, LoginRequest, SessionResponse } from '../types.js';

export class AuthResource extends APIResource {
  /**
   * Logs a member in (`POST /v1/auth/login`, public). Use the returned `token` as the
   * credential: `client.withOptions({ apiKey: session.token })`.
   */
  login(body: LoginRequest, options?: RequestOptions): APIPromise<SessionResponse> {
    return this._client.post('/v1/auth/login', { ...options, body });
  }

  /** Revokes the calling member session (`POST /v1/auth/logout`, member sessions only). */
  logout(options?: RequestOptions): APIPromise<void> {
    return this._client.post('/v1/auth/logout', options);
  }

  /** Sets a password with an invite token and logs in (`POST /v1/auth/accept-invite`, public). */
  acceptInvite(body: AcceptInviteRequest, options?: RequestOptions): APIPromise<SessionResponse> {
    return this._client.post('/v1/auth/accept-invite', { ...options, body });
  }
}

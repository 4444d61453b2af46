import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { APIResource } from '../resource.js';
import type { Me } from '../types.js';

export class MeResource extends APIResource {
  /** Who the credential is: member, API key or operator, with its tenant and scopes (`GET /v1/me`). */
  retrieve(options?: RequestOptions): APIPromise<Me> {
    return this._client.get('/v1/me', options);
  }
}

import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { path } from '../internal/utils.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type {
  ApiKey,
  ApiKeyUsage,
  ApiKeyUsageParams,
  CreateApiKeyRequest,
  CreatedApiKey,
  ListParams,
} from '../types.js';

export class ApiKeysResource extends APIResource {
  /**
   * Creates an API key (`POST /v1/api-keys`, scope `api_keys:write`). The answer's `secret` is
   * shown this once; a credential can only grant scopes it holds itself.
   */
  create(body: CreateApiKeyRequest, options?: RequestOptions): APIPromise<CreatedApiKey> {
    return this._client.post('/v1/api-keys', { ...options, body });
  }

  /** API keys, newest first, without their secrets (`GET /v1/api-keys`, scope `api_keys:read`). */
  list(query: ListParams = {}, options?: RequestOptions): PagePromise<ApiKey> {
    return this._client.getAPIList<ApiKey>('/v1/api-keys', query, options);
  }

  /** One API key (`GET /v1/api-keys/{id}`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<ApiKey> {
    return this._client.get(path`/v1/api-keys/${id}`, options);
  }

  /** Revokes a key at once (`DELETE /v1/api-keys/{id}`); it stays listed with `revoked_at`. */
  revoke(id: string, options?: RequestOptions): APIPromise<ApiKey> {
    return this._client.delete(path`/v1/api-keys/${id}`, options);
  }

  /** Calls made with a key, bucketed per minute, hour (default) or day (`GET /v1/api-keys/{id}/usage`). */
  usage(
    id: string,
    query: ApiKeyUsageParams = {},
    options?: RequestOptions,
  ): APIPromise<ApiKeyUsage> {
    return this._client.get(path`/v1/api-keys/${id}/usage`, {
      ...options,
      query: { from: query.from, to: query.to, granularity: query.granularity },
    });
  }
}

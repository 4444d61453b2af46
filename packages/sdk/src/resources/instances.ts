import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { path } from '../internal/utils.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type {
  CreateInstanceParams,
  Deleted,
  Instance,
  InstanceWithToken,
  ListParams,
  UpdateInstanceParams,
} from '../types.js';

/** AstrBot instances: each runs a sidecar that reports its conversations with an instance token. */
export class InstancesResource extends APIResource {
  /**
   * Registers an AstrBot instance (`POST /v1/instances`, scope `instances:write`). The answer's
   * `token` (`adi_...`) is shown this once; the sidecar uses it, on sidecar routes only.
   */
  create(body: CreateInstanceParams, options?: RequestOptions): APIPromise<InstanceWithToken> {
    return this._client.post('/v1/instances', { ...options, body });
  }

  /** Instances, newest first (`GET /v1/instances`, scope `instances:read`). */
  list(query: ListParams = {}, options?: RequestOptions): PagePromise<Instance> {
    return this._client.getAPIList<Instance>('/v1/instances', query, options);
  }

  /** One instance (`GET /v1/instances/{id}`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<Instance> {
    return this._client.get(path`/v1/instances/${id}`, options);
  }

  /** Renames an instance or changes its platforms (`PATCH /v1/instances/{id}`). */
  update(id: string, body: UpdateInstanceParams, options?: RequestOptions): APIPromise<Instance> {
    return this._client.patch(path`/v1/instances/${id}`, { ...options, body });
  }

  /**
   * Replaces the instance token (`POST /v1/instances/{id}/rotate-token`): the old one stops
   * working at once, the new one is in this answer only.
   */
  rotateToken(id: string, options?: RequestOptions): APIPromise<InstanceWithToken> {
    return this._client.post(path`/v1/instances/${id}/rotate-token`, options);
  }

  /** Deletes an instance (`DELETE /v1/instances/{id}`); its token stops working, its conversations stay. */
  delete(id: string, options?: RequestOptions): APIPromise<Deleted> {
    return this._client.delete(path`/v1/instances/${id}`, options);
  }
}

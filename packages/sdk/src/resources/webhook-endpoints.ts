import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { path } from '../internal/utils.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type {
  CreateWebhookEndpointParams,
  Deleted,
  ListParams,
  UpdateWebhookEndpointParams,
  WebhookDelivery,
  WebhookDeliveryDetail,
  WebhookDeliveryListParams,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from '../types.js';

/** The delivery log of one webhook endpoint. */
export class WebhookDeliveriesResource extends APIResource {
  /**
   * Deliveries of an endpoint, newest first, optionally by `status` (`pending`, `succeeded`,
   * `failed`) (`GET /v1/webhook-endpoints/{id}/deliveries`, scope `webhooks:read`).
   */
  list(
    endpointId: string,
    query: WebhookDeliveryListParams = {},
    options?: RequestOptions,
  ): PagePromise<WebhookDelivery> {
    return this._client.getAPIList<WebhookDelivery>(
      path`/v1/webhook-endpoints/${endpointId}/deliveries`,
      { ...query },
      options,
    );
  }

  /**
   * A delivery with every attempt: the receiver's status (or the error), duration and time
   * (`GET /v1/webhook-endpoints/{id}/deliveries/{delivery_id}`).
   */
  retrieve(
    endpointId: string,
    deliveryId: string,
    options?: RequestOptions,
  ): APIPromise<WebhookDeliveryDetail> {
    return this._client.get(
      path`/v1/webhook-endpoints/${endpointId}/deliveries/${deliveryId}`,
      options,
    );
  }

  /**
   * Queues a delivery for an attempt now, whatever its status
   * (`POST /v1/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver`, scope
   * `webhooks:write`). 409 `conflict` while an attempt is in flight or the endpoint is disabled.
   */
  redeliver(
    endpointId: string,
    deliveryId: string,
    options?: RequestOptions,
  ): APIPromise<WebhookDelivery> {
    return this._client.post(
      path`/v1/webhook-endpoints/${endpointId}/deliveries/${deliveryId}/redeliver`,
      options,
    );
  }
}

/**
 * Webhook endpoints: URLs the tenant's events are POSTed to, signed with the endpoint's
 * secret. Check the signature with `client.webhooks.verify()`.
 */
export class WebhookEndpointsResource extends APIResource {
  readonly deliveries: WebhookDeliveriesResource = new WebhookDeliveriesResource(this._client);

  /**
   * Creates an endpoint (`POST /v1/webhook-endpoints`, scope `webhooks:write`) for some event
   * types, or `['*']` for all. The answer's signing `secret` (`whsec_...`) is shown this once.
   * Loopback, private and link-local URLs answer 400 `target_not_allowed`.
   */
  create(
    body: CreateWebhookEndpointParams,
    options?: RequestOptions,
  ): APIPromise<WebhookEndpointWithSecret> {
    return this._client.post('/v1/webhook-endpoints', { ...options, body });
  }

  /** Endpoints, newest first, without their secrets (`GET /v1/webhook-endpoints`, scope `webhooks:read`). */
  list(query: ListParams = {}, options?: RequestOptions): PagePromise<WebhookEndpoint> {
    return this._client.getAPIList<WebhookEndpoint>('/v1/webhook-endpoints', query, options);
  }

  /** One endpoint (`GET /v1/webhook-endpoints/{id}`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<WebhookEndpoint> {
    return this._client.get(path`/v1/webhook-endpoints/${id}`, options);
  }

  /**
   * Changes the URL, events or description, or pauses the endpoint with `enabled: false`
   * (`PATCH /v1/webhook-endpoints/{id}`); `description: null` clears it.
   */
  update(
    id: string,
    body: UpdateWebhookEndpointParams,
    options?: RequestOptions,
  ): APIPromise<WebhookEndpoint> {
    return this._client.patch(path`/v1/webhook-endpoints/${id}`, { ...options, body });
  }

  /** Deletes an endpoint with its deliveries (`DELETE /v1/webhook-endpoints/{id}`). */
  delete(id: string, options?: RequestOptions): APIPromise<Deleted> {
    return this._client.delete(path`/v1/webhook-endpoints/${id}`, options);
  }

  /**
   * Replaces the signing secret (`POST /v1/webhook-endpoints/{id}/rotate-secret`): every
   * attempt from now on is signed with the new one, shown in this answer only.
   */
  rotateSecret(id: string, options?: RequestOptions): APIPromise<WebhookEndpointWithSecret> {
    return this._client.post(path`/v1/webhook-endpoints/${id}/rotate-secret`, options);
  }
}

import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { path } from '../internal/utils.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type {
  AdminTenant,
  AdminTenantListParams,
  AutoApprovalPolicy,
  AutoApprovalPolicyParams,
  Tenant,
  TenantActionParams,
} from '../types.js';

/** Tenants as the platform operator sees them (operator token only). */
export class AdminTenantsResource extends APIResource {
  /** Every tenant, newest first, optionally by `status` (`GET /v1/admin/tenants`). */
  list(query: AdminTenantListParams = {}, options?: RequestOptions): PagePromise<Tenant> {
    return this._client.getAPIList<Tenant>('/v1/admin/tenants', query, options);
  }

  /** A tenant with its owner, member count and status history (`GET /v1/admin/tenants/{id}`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<AdminTenant> {
    return this._client.get(path`/v1/admin/tenants/${id}`, options);
  }

  /** `pending` or `rejected` → `active`. Answers 409 `invalid_state_transition` from any other status. */
  approve(id: string, body?: TenantActionParams, options?: RequestOptions): APIPromise<Tenant> {
    return this.#action(id, 'approve', body, options);
  }

  /** `pending` → `rejected`. */
  reject(id: string, body?: TenantActionParams, options?: RequestOptions): APIPromise<Tenant> {
    return this.#action(id, 'reject', body, options);
  }

  /** `active` → `suspended`: the tenant's credentials stop working. */
  suspend(id: string, body?: TenantActionParams, options?: RequestOptions): APIPromise<Tenant> {
    return this.#action(id, 'suspend', body, options);
  }

  /** `suspended` → `active`. */
  reactivate(id: string, body?: TenantActionParams, options?: RequestOptions): APIPromise<Tenant> {
    return this.#action(id, 'reactivate', body, options);
  }

  #action(
    id: string,
    action: 'approve' | 'reject' | 'suspend' | 'reactivate',
    body: TenantActionParams | undefined,
    options: RequestOptions | undefined,
  ): APIPromise<Tenant> {
    return this._client.post(`${path`/v1/admin/tenants/${id}`}/${action}`, {
      ...options,
      body: body ?? {},
    });
  }
}

/** How new signups are approved: by hand (`off`), all at once (`all`), or by contact-email domain. */
export class AutoApprovalResource extends APIResource {
  /** The policy in force (`GET /v1/admin/settings/auto-approval`). */
  retrieve(options?: RequestOptions): APIPromise<AutoApprovalPolicy> {
    return this._client.get('/v1/admin/settings/auto-approval', options);
  }

  /** Replaces the policy (`PUT /v1/admin/settings/auto-approval`). */
  update(
    policy: AutoApprovalPolicyParams,
    options?: RequestOptions,
  ): APIPromise<AutoApprovalPolicy> {
    return this._client.put('/v1/admin/settings/auto-approval', { ...options, body: policy });
  }
}

/** The operator console. Every method needs an operator token. */
export class AdminResource extends APIResource {
  readonly tenants: AdminTenantsResource = new AdminTenantsResource(this._client);
  readonly autoApproval: AutoApprovalResource = new AutoApprovalResource(this._client);
}

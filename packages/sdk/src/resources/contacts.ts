import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { path } from '../internal/utils.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type { Contact, ContactListParams } from '../types.js';

/** End users who wrote in on an IM platform. */
export class ContactsResource extends APIResource {
  /**
   * Contacts, newest first (`GET /v1/contacts`, scope `contacts:read`), optionally by
   * `platform` and `q` (a substring of the nickname or platform user id).
   */
  list(query: ContactListParams = {}, options?: RequestOptions): PagePromise<Contact> {
    return this._client.getAPIList<Contact>('/v1/contacts', { ...query }, options);
  }

  /** One contact (`GET /v1/contacts/{id}`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<Contact> {
    return this._client.get(path`/v1/contacts/${id}`, options);
  }
}

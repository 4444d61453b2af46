import type { AstrDesk } from './client.js';

/** Base of every resource: a group of methods that share the client. */
export abstract class APIResource {
  protected readonly _client: AstrDesk;

  constructor(client: AstrDesk) {
    this._client = client;
  }
}

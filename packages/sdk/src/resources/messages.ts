import type { RequestOptions } from '../client.js';
import type { PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type { MessageSearchHit, MessageSearchParams } from '../types.js';

/** Messages across conversations. A conversation's own messages are `conversations.messages`. */
export class MessagesResource extends APIResource {
  /**
   * Searches messages, newest first (`GET /v1/messages/search`, scope `messages:read`). `q`
   * holds space-separated terms that must all match (Chinese words of two or more characters
   * match exactly); the filters narrow it down, and each hit has an HTML-escaped `snippet`
   * with the matches in `<mark>`. Iterate with `for await` to walk every page.
   *
   * @example
   * for await (const hit of client.messages.search({ q: '退款', from: new Date('2026-01-01') })) {
   *   console.log(hit.conversation_id, hit.snippet);
   * }
   */
  search(query: MessageSearchParams = {}, options?: RequestOptions): PagePromise<MessageSearchHit> {
    return this._client.getAPIList<MessageSearchHit>('/v1/messages/search', { ...query }, options);
  }
}

import type { APIPromise } from '../api-promise.js';
import type { RequestOptions } from '../client.js';
import { path, type Query } from '../internal/utils.js';
import { MessagePage, PagePromise } from '../pagination.js';
import { APIResource } from '../resource.js';
import type {
  AssignConversationParams,
  CloseConversationParams,
  Conversation,
  ConversationListParams,
  ConversationSettings,
  ConversationTransitionList,
  CreatedMessage,
  CreateMessageParams,
  Message,
  MessageListParams,
  MessagePageBody,
  RateConversationParams,
  TransferConversationParams,
  UpdateConversationSettingsParams,
} from '../types.js';

/** The messages of one conversation. */
export class ConversationMessagesResource extends APIResource {
  /**
   * A page of a conversation's messages (`GET /v1/conversations/{id}/messages`, scope
   * `messages:read`). By default the newest first, paging back in time (`direction: 'older'`);
   * `direction: 'newer'` starts from the oldest and pages forward; `around: messageId` gives
   * the page centred on that message, oldest first. The page also has `older_cursor` and
   * `newer_cursor`, with `getOlderPage()` / `getNewerPage()` to move either way. Blocked
   * messages are shown to owners and admins only.
   *
   * @example
   * const page = await client.conversations.messages.list(conversationId, { limit: 30 });
   * if (page.hasOlderPage()) await page.getOlderPage(); // scrolling up
   * for await (const m of client.conversations.messages.list(conversationId)) console.log(m.text);
   */
  list(
    conversationId: string,
    query: MessageListParams = {},
    options?: RequestOptions,
  ): PagePromise<Message, MessagePage> {
    const route = path`/v1/conversations/${conversationId}/messages`;
    const { limit } = query;
    // The page after an `around` page is the older one (that is what its next_cursor is for).
    const next = query.direction === 'newer' && query.around === undefined ? 'newer' : 'older';
    const fetchPage = (q: Query, follow: 'older' | 'newer'): PagePromise<Message, MessagePage> =>
      new PagePromise<Message, MessagePage>(
        this._client
          .request<MessagePageBody>({ ...options, method: 'get', path: route, query: q })
          .withResponse()
          .then((r) => ({
            ...r,
            data: new MessagePage(
              r.data,
              (direction, cursor) => fetchPage({ limit, direction, cursor }, direction),
              follow,
            ),
          })),
      );
    return fetchPage({ ...query }, next);
  }

  /**
   * Replies to the user, or adds an internal note with `internal: true`
   * (`POST /v1/conversations/{id}/messages`, scope `messages:write`). A reply is queued as a
   * delivery to the conversation's AstrBot instance. A closed conversation answers 409
   * `conversation_closed`; text over the tenant's `max_text_bytes` answers 400 `text_too_long`.
   */
  create(
    conversationId: string,
    body: CreateMessageParams,
    options?: RequestOptions,
  ): APIPromise<CreatedMessage> {
    return this._client.post(path`/v1/conversations/${conversationId}/messages`, {
      ...options,
      body,
    });
  }
}

/** The tenant's conversation settings: routing, auto-close and limits. */
export class ConversationSettingsResource extends APIResource {
  /** The settings in force (`GET /v1/tenant/settings/conversations`, scope `tenant:read`). */
  retrieve(options?: RequestOptions): APIPromise<ConversationSettings> {
    return this._client.get('/v1/tenant/settings/conversations', options);
  }

  /** Changes some settings (`PATCH /v1/tenant/settings/conversations`, scope `tenant:write`). */
  update(
    body: UpdateConversationSettingsParams,
    options?: RequestOptions,
  ): APIPromise<ConversationSettings> {
    return this._client.patch('/v1/tenant/settings/conversations', { ...options, body });
  }
}

/**
 * Conversations and their lifecycle. An action the conversation's state does not allow
 * answers `ConflictError` with code `invalid_state_transition` and `details.current_state`.
 */
export class ConversationsResource extends APIResource {
  readonly messages: ConversationMessagesResource = new ConversationMessagesResource(this._client);
  readonly settings: ConversationSettingsResource = new ConversationSettingsResource(this._client);

  /**
   * Conversations, most recent activity first (`GET /v1/conversations`, scope
   * `conversations:read`), by `state`, `agent_id` (the assignee), `platform`, `contact_id`,
   * last activity `from`/`to`, and `unread`.
   */
  list(query: ConversationListParams = {}, options?: RequestOptions): PagePromise<Conversation> {
    return this._client.getAPIList<Conversation>('/v1/conversations', { ...query }, options);
  }

  /** One conversation (`GET /v1/conversations/{id}`). */
  retrieve(id: string, options?: RequestOptions): APIPromise<Conversation> {
    return this._client.get(path`/v1/conversations/${id}`, options);
  }

  /** Takes a waiting conversation, or accepts a transfer addressed to you. `waiting|transferring → active`. */
  accept(id: string, options?: RequestOptions): APIPromise<Conversation> {
    return this.#action(id, 'accept', undefined, options);
  }

  /** Gives the conversation to an agent. `waiting → active`; on an active one, a reassignment. */
  assign(
    id: string,
    body: AssignConversationParams,
    options?: RequestOptions,
  ): APIPromise<Conversation> {
    return this.#action(id, 'assign', body, options);
  }

  /** Hands over to another agent, who accepts or declines (or it times out). `active → transferring`. */
  transfer(
    id: string,
    body: TransferConversationParams,
    options?: RequestOptions,
  ): APIPromise<Conversation> {
    return this.#action(id, 'transfer', body, options);
  }

  /** Refuses a transfer; it goes back to the previous agent. `transferring → active`. */
  decline(id: string, options?: RequestOptions): APIPromise<Conversation> {
    return this.#action(id, 'decline', undefined, options);
  }

  /** Puts the conversation back in the queue. `active → waiting`. */
  release(id: string, options?: RequestOptions): APIPromise<Conversation> {
    return this.#action(id, 'release', undefined, options);
  }

  /** Ends the conversation, with an optional `reason`. `waiting|active|transferring → closed`. */
  close(
    id: string,
    body: CloseConversationParams = {},
    options?: RequestOptions,
  ): APIPromise<Conversation> {
    return this.#action(id, 'close', body, options);
  }

  /** Reopens a closed conversation into the queue. `closed → waiting`. */
  reopen(id: string, options?: RequestOptions): APIPromise<Conversation> {
    return this.#action(id, 'reopen', undefined, options);
  }

  /** Records the customer's satisfaction score, 1–5, and comment (`POST /v1/conversations/{id}/rating`). */
  rate(
    id: string,
    body: RateConversationParams,
    options?: RequestOptions,
  ): APIPromise<Conversation> {
    return this._client.post(path`/v1/conversations/${id}/rating`, { ...options, body });
  }

  /** Marks the user's messages read: `unread_count` becomes 0 (`POST /v1/conversations/{id}/read`). */
  markRead(id: string, options?: RequestOptions): APIPromise<Conversation> {
    return this._client.post(path`/v1/conversations/${id}/read`, options);
  }

  /** Every state change of the conversation, oldest first (`GET /v1/conversations/{id}/transitions`). */
  transitions(id: string, options?: RequestOptions): APIPromise<ConversationTransitionList> {
    return this._client.get(path`/v1/conversations/${id}/transitions`, options);
  }

  #action(
    id: string,
    action: 'accept' | 'assign' | 'transfer' | 'decline' | 'release' | 'close' | 'reopen',
    body: object | undefined,
    options: RequestOptions | undefined,
  ): APIPromise<Conversation> {
    return this._client.post(`${path`/v1/conversations/${id}`}/${action}`, {
      ...options,
      ...(body !== undefined ? { body } : {}),
    });
  }
}

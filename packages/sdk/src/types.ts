/**
 * Wire types, all inferred from the zod schemas of @astrdesk/protocol, so they can never drift
 * from what the server validates. Field names are snake_case, exactly as on the wire.
 *
 * Only types are imported: nothing of zod or the schemas reaches the SDK's bundle.
 */
import type * as P from '@astrdesk/protocol';
import type { Message, PageOf, RealtimeServerFrame } from '@astrdesk/protocol';

/**
 * What a schema parses to: the same as zod's `z.infer` (`z.output`), spelled out so the
 * SDK's published typings need no direct dependency on zod.
 */
export type Infer<S> = S extends { _zod: { output: infer O } } ? O : never;
/** What a schema accepts: the same as zod's `z.input`. */
export type Input<S> = S extends { _zod: { input: infer I } } ? I : never;

export type {
  AdminTenant,
  ApiKey,
  ApiKeyUsage,
  CreateApiKeyRequest,
  CreatedApiKey,
  CreateMemberRequest,
  ErrorCode,
  ErrorEnvelope,
  ErrorType,
  LoginRequest,
  Me,
  Member,
  PageOf,
  Role,
  Scope,
  SignupRequest,
  Tenant,
  TenantStatus,
  TenantUpdate,
  UpdateMemberRequest,
} from '@astrdesk/protocol';

/** `POST /v1/signup` answer: the tenant, its owner's id and what to do next. */
export type SignupResponse = Infer<typeof P.SignupResponse>;
/** `POST /v1/members` answer: the member plus a one-time `invite_token` when no password was set. */
export type CreatedMember = Infer<typeof P.CreatedMember>;
/** `POST /v1/auth/login` and `/v1/auth/accept-invite` answer: a session token, shown once. */
export type SessionResponse = Infer<typeof P.SessionResponse>;
export type AcceptInviteRequest = Input<typeof P.AcceptInviteRequest>;
/** The auto-approval policy as sent to `PUT /v1/admin/settings/auto-approval`. */
export type AutoApprovalPolicy = Infer<typeof P.AutoApprovalPolicy>;
export type AutoApprovalPolicyParams = Input<typeof P.AutoApprovalPolicy>;
/** `?limit=&cursor=` of every list. */
export type ListParams = P.ListQuery;
/** `GET /v1/admin/tenants` filters. */
export type AdminTenantListParams = ListParams & Infer<typeof P.TenantListQuery>;
/** Optional reason recorded with an operator action. */
export type TenantActionParams = Input<typeof P.ReasonBody>;
/** `GET /v1/api-keys/{id}/usage` query; `from` and `to` may be Dates. */
export type ApiKeyUsageParams = Omit<Input<typeof P.ApiKeyUsageQuery>, 'from' | 'to'> & {
  from?: string | Date | undefined;
  to?: string | Date | undefined;
};

// --- instances, contacts, conversations, messages -------------------------------------------

export type {
  Contact,
  Conversation,
  ConversationSettings,
  ConversationState,
  CreateInstanceRequest,
  EventEnvelope,
  EventType,
  Instance,
  Message,
  MessageKind,
  Platform,
  RealtimeClientFrame,
  RealtimeServerFrame,
  WebhookEndpoint,
} from '@astrdesk/protocol';

/** A `Date` or an ISO-8601 string, for time filters. */
export type DateLike = string | Date;

/** `{ id, deleted: true }`: what a DELETE answers. */
export type Deleted = Infer<typeof P.Deleted>;

/** `POST /v1/instances` and `/rotate-token` answer: the instance with its token (`adi_...`), shown once. */
export type InstanceWithToken = Infer<typeof P.InstanceWithToken>;
/**
 * An instance's blacklist sync state (`instance.sync`): whether its sidecar holds the control
 * channel open (`online`), the blacklist `revision` of the tenant, the `applied_revision` the
 * sidecar acknowledged, and `lag` (`revision − applied_revision`; 0 when up to date).
 */
export type InstanceSync = Infer<typeof P.Instance>['sync'];
export type CreateInstanceParams = Input<typeof P.CreateInstanceRequest>;
export type UpdateInstanceParams = Input<typeof P.UpdateInstanceRequest>;

/** `GET /v1/contacts` filters: `platform`, and `q` (substring of nickname or platform user id). */
export type ContactListParams = ListParams & Input<typeof P.ContactListQuery>;

/** `GET /v1/conversations` filters; `from`/`to` (last activity) may be Dates, `unread` a boolean. */
export type ConversationListParams = ListParams &
  Omit<Input<typeof P.ConversationListQuery>, 'from' | 'to' | 'unread'> & {
    from?: DateLike | undefined;
    to?: DateLike | undefined;
    unread?: boolean | 'true' | 'false' | undefined;
  };
export type AssignConversationParams = Input<typeof P.AssignRequest>;
export type TransferConversationParams = Input<typeof P.TransferRequest>;
export type CloseConversationParams = Input<typeof P.CloseRequest>;
export type RateConversationParams = Input<typeof P.RatingRequest>;
export type ConversationAction = P.ConversationAction;
/** One state change of a conversation. */
export type ConversationTransition = Infer<typeof P.ConversationTransition>;
/** `GET /v1/conversations/{id}/transitions` answer, oldest first. */
export interface ConversationTransitionList {
  data: ConversationTransition[];
}
export type UpdateConversationSettingsParams = Input<typeof P.UpdateConversationSettings>;

export type PresenceStatus = Infer<typeof P.PresenceStatus>;
/** A member's status and load. `status` is `explicit_status` while connected, else `offline`. */
export type Presence = Infer<typeof P.Presence>;
export interface PresenceList {
  data: Presence[];
}
export type SetPresenceParams = Input<typeof P.SetPresenceRequest>;

export type MessageSender = Infer<typeof P.MessageSender>;
export type MessageStatus = Infer<typeof P.MessageStatus>;
export type MediaRef = Infer<typeof P.MediaRef>;
/** The delivery of an agent reply to the IM platform, through the conversation's instance. */
export type Delivery = Infer<typeof P.Delivery>;
export type CreateMessageParams = Input<typeof P.CreateMessageRequest>;
/** `POST /v1/conversations/{id}/messages` answer; `delivery` is null for internal notes. */
export interface CreatedMessage {
  message: Message;
  delivery: Delivery | null;
}
/** `GET /v1/conversations/{id}/messages` query: `direction` (`older` by default) or `around` a message id. */
export type MessageListParams = ListParams & Input<typeof P.MessageListQuery>;
/** A message page as on the wire: the usual page plus cursors in both directions. */
export interface MessagePageBody extends PageOf<Message> {
  older_cursor: string | null;
  newer_cursor: string | null;
}
/** `GET /v1/messages/search` filters; `from`/`to` may be Dates. */
export type MessageSearchParams = ListParams &
  Omit<Input<typeof P.MessageSearchQuery>, 'from' | 'to'> & {
    from?: DateLike | undefined;
    to?: DateLike | undefined;
  };
/** A search result: the message plus an HTML-escaped `snippet` with matches in `<mark>`. */
export type MessageSearchHit = Infer<typeof P.MessageSearchHit>;

// --- blacklist ------------------------------------------------------------------------------

export type { BlacklistEntry } from '@astrdesk/protocol';

/** `POST /v1/blacklist` body (and each item of a batch); `expires_at` may be a Date. */
export type CreateBlacklistEntryParams = Omit<
  Input<typeof P.CreateBlacklistEntryRequest>,
  'expires_at'
> & {
  /** Must be in the future; leave it out for a permanent entry. */
  expires_at?: DateLike | undefined;
};
/** `PATCH /v1/blacklist/{id}` body; `null` clears `reason` or `expires_at` (permanent). */
export type UpdateBlacklistEntryParams = Omit<
  Input<typeof P.UpdateBlacklistEntryRequest>,
  'expires_at'
> & {
  expires_at?: DateLike | null | undefined;
};
/** One item of a batch answer: `created`, `updated` (the pair existed) or `invalid` with its `error`. */
export type BlacklistBatchItemResult = Infer<typeof P.BatchItemResult>;
/** `POST /v1/blacklist/batch` answer: counts, the tenant's new revision and a result per item, in order. */
export type BlacklistBatchResult = Infer<typeof P.BatchCreateBlacklistResult>;
/** `POST /v1/blacklist/batch-delete` body: entry `ids`, `(platform, platform_user_id)` pairs, or both. */
export type BlacklistBatchRemoveParams = Input<typeof P.BatchDeleteBlacklistRequest>;
/** `POST /v1/blacklist/batch-delete` answer. */
export type BlacklistBatchRemoveResult = Infer<typeof P.BatchDeleteBlacklistResult>;
/** `GET /v1/blacklist` filters: `q` (substring of the user id or reason), `platform`, `status`, `operator`. */
export type BlacklistListParams = ListParams & Input<typeof P.BlacklistListQuery>;
/** `GET /v1/blacklist/check` query. */
export type BlacklistCheckParams = Input<typeof P.BlacklistCheckQuery>;
/** `GET /v1/blacklist/check` answer: whether the user is blocked now, and the entry if any. */
export type BlacklistCheck = Infer<typeof P.BlacklistCheck>;
/** One add, update or remove of an entry: who, when, and the entry before and after. */
export type BlacklistAuditEntry = Infer<typeof P.BlacklistAuditEntry>;
/** `GET /v1/blacklist/audit` filters. */
export type BlacklistAuditParams = ListParams & {
  entry_id?: string | undefined;
  platform_user_id?: string | undefined;
};
/** `GET /v1/blacklist/stats` answer: entry counts, and blocked messages per user and per day. */
export type BlacklistStats = Infer<typeof P.BlacklistStats>;
/** `GET /v1/blacklist/stats` query; `from`/`to` may be Dates (default: the 30 days before now). */
export type BlacklistStatsParams = Omit<
  Partial<Infer<typeof P.BlacklistStatsQuery>>,
  'from' | 'to'
> & {
  from?: DateLike | undefined;
  to?: DateLike | undefined;
};

// --- webhooks -------------------------------------------------------------------------------

/** `POST /v1/webhook-endpoints` and `/rotate-secret` answer: the endpoint with its signing secret, shown once. */
export type WebhookEndpointWithSecret = Infer<typeof P.WebhookEndpointWithSecret>;
export type CreateWebhookEndpointParams = Input<typeof P.CreateWebhookEndpointRequest>;
export type UpdateWebhookEndpointParams = Input<typeof P.UpdateWebhookEndpointRequest>;
export type WebhookDeliveryStatus = (typeof P.WEBHOOK_DELIVERY_STATUSES)[number];
export type WebhookDelivery = Infer<typeof P.WebhookDelivery>;
/** One attempt to send a webhook delivery. */
export interface WebhookAttempt {
  id: number;
  /** The receiver's HTTP status; null when no response arrived. */
  status_code: number | null;
  /** Why the attempt failed; null on a 2xx. */
  error: string | null;
  duration_ms: number;
  created_at: string;
}
/** `GET /v1/webhook-endpoints/{id}/deliveries/{delivery_id}` answer: the delivery and every attempt, oldest first. */
export interface WebhookDeliveryDetail extends WebhookDelivery {
  attempt_log: WebhookAttempt[];
}
/** `GET /v1/webhook-endpoints/{id}/deliveries` filters. */
export type WebhookDeliveryListParams = ListParams & {
  status?: WebhookDeliveryStatus | undefined;
};

// --- realtime -------------------------------------------------------------------------------

/** The first frame of every realtime connection: the log head and who is connected. */
export type RealtimeReadyFrame = Extract<RealtimeServerFrame, { type: 'ready' }>;
/**
 * The server could not replay what was missed (too far back, log trimmed, ...): reload your
 * state over HTTP; the stream continues from `last_seq`.
 */
export type RealtimeResyncFrame = Extract<RealtimeServerFrame, { type: 'resync_required' }>;
export type RealtimeErrorFrame = Extract<RealtimeServerFrame, { type: 'error' }>;

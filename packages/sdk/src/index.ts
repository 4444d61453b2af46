export { APIPromise, type APIResponse } from './api-promise.js';
export {
  AstrDesk,
  AstrDesk as default,
  type ClientOptions,
  type Fetch,
  type FinalRequestOptions,
  type HTTPMethod,
  type RequestOptions,
} from './client.js';
export {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  AstrDeskError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  RealtimeError,
  UnprocessableEntityError,
  WebhookVerificationError,
  type WebhookVerificationErrorCode,
} from './error.js';
export {
  MessagePage,
  type MessagePageFetcher,
  Page,
  type PageFetcher,
  PagePromise,
} from './pagination.js';
export {
  REALTIME_CLOSE_CODES,
  type RealtimeClose,
  RealtimeConnection,
  type RealtimeConnectOptions,
  type RealtimeDisconnect,
  type RealtimeEventMap,
  type RealtimeListener,
  type RealtimeListenerMap,
  type RealtimeState,
  type WebSocketConstructor,
  type WebSocketLike,
} from './realtime.js';
export * from './resources/index.js';
export type * from './types.js';
export { VERSION } from './version.js';
export {
  DEFAULT_WEBHOOK_TOLERANCE_SEC,
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookBody,
} from './webhooks.js';

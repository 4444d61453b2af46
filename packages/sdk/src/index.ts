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
  UnprocessableEntityError,
} from './error.js';
export { Page, type PageFetcher, PagePromise } from './pagination.js';
export * from './resources/index.js';
export type * from './types.js';
export { VERSION } from './version.js';

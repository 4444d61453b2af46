/**
 * Wire types, all inferred from the zod schemas of @astrdesk/protocol, so they can never drift
 * from what the server validates. Field names are snake_case, exactly as on the wire.
 *
 * Only types are imported: nothing of zod or the schemas reaches the SDK's bundle.
 */
import type * as P from '@astrdesk/protocol';

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

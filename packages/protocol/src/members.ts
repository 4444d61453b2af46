import { z } from 'zod';
import { Email, Password, Timestamp } from './common.js';
import { Role, Scope } from './scopes.js';

export const Member = z
  .object({
    id: z.string(),
    object: z.literal('member'),
    tenant_id: z.string(),
    email: z.string(),
    name: z.string(),
    role: Role,
    disabled: z.boolean(),
    invite_pending: z.boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_login_at: Timestamp.nullable(),
  })
  .meta({ id: 'Member' });
export type Member = z.infer<typeof Member>;

/**
 * Invite a member. Without `password` the answer carries a one-time `invite_token` that the
 * invitee exchanges at `POST /v1/auth/accept-invite` for a password of their own.
 */
export const CreateMemberRequest = z
  .strictObject({
    email: Email,
    name: z.string().trim().min(1).max(120),
    role: Role.exclude(['owner']).default('agent'),
    password: Password.optional(),
  })
  .meta({
    id: 'CreateMemberRequest',
    example: { email: 'agent@acme.example', name: 'Han Meimei', role: 'agent' },
  });
export type CreateMemberRequest = z.input<typeof CreateMemberRequest>;

export const CreatedMember = Member.extend({
  invite_token: z
    .string()
    .nullable()
    .meta({ description: 'Shown once; null when a password was set' }),
  invite_expires_at: Timestamp.nullable(),
}).meta({ id: 'CreatedMember' });

export const UpdateMemberRequest = z
  .strictObject({
    role: Role.optional(),
    disabled: z.boolean().optional(),
    name: z.string().trim().min(1).max(120).optional(),
  })
  .meta({ id: 'UpdateMemberRequest', example: { role: 'admin' } });
export type UpdateMemberRequest = z.input<typeof UpdateMemberRequest>;

export const LoginRequest = z
  .strictObject({ email: Email, password: z.string().min(1).max(256) })
  .meta({
    id: 'LoginRequest',
    example: { email: 'lilei@acme.example', password: 'correct-horse-battery' },
  });
export type LoginRequest = z.input<typeof LoginRequest>;

export const AcceptInviteRequest = z
  .strictObject({ invite_token: z.string().min(1).max(200), password: Password })
  .meta({
    id: 'AcceptInviteRequest',
    example: { invite_token: 'adv_...', password: 'correct-horse-battery' },
  });

export const SessionResponse = z
  .object({
    object: z.literal('session'),
    token: z.string().meta({ description: 'Bearer token; shown once' }),
    expires_at: Timestamp,
    member: Member,
  })
  .meta({ id: 'SessionResponse' });

export const PRINCIPAL_KINDS = ['member', 'api_key', 'operator', 'instance'] as const;

/** Who the credential is: `GET /v1/me`. */
export const Me = z
  .object({
    object: z.literal('principal'),
    kind: z.enum(PRINCIPAL_KINDS),
    id: z.string(),
    tenant_id: z.string().nullable(),
    scopes: z.array(Scope),
    member: Member.nullable(),
    api_key: z.object({ id: z.string(), name: z.string(), prefix: z.string() }).nullable(),
  })
  .meta({ id: 'Me' });
export type Me = z.infer<typeof Me>;

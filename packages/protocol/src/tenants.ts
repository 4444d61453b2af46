import { z } from 'zod';
import { Email, Password, Timestamp } from './common.js';

export const TENANT_STATUSES = ['pending', 'active', 'suspended', 'rejected'] as const;
export const TenantStatus = z.enum(TENANT_STATUSES).meta({ id: 'TenantStatus' });
export type TenantStatus = z.infer<typeof TenantStatus>;

/**
 * Legal tenant status changes and the operator action that makes each. One table, so the
 * server and the docs agree: `pending → active` is approve, `active → suspended` is suspend...
 */
export const TENANT_ACTIONS = {
  approve: { from: ['pending', 'rejected'], to: 'active' },
  reject: { from: ['pending'], to: 'rejected' },
  suspend: { from: ['active'], to: 'suspended' },
  reactivate: { from: ['suspended'], to: 'active' },
} as const satisfies Record<string, { from: readonly TenantStatus[]; to: TenantStatus }>;
export type TenantAction = keyof typeof TENANT_ACTIONS;

export const BUSINESS_SIZES = ['1-10', '11-50', '51-200', '201-1000', '1000+'] as const;

export const Tenant = z
  .object({
    id: z.string(),
    object: z.literal('tenant'),
    status: TenantStatus,
    status_reason: z.string().nullable(),
    company_name: z.string(),
    contact_name: z.string(),
    contact_email: z.string(),
    contact_phone: z.string().nullable(),
    business_size: z.enum(BUSINESS_SIZES).nullable(),
    industry: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    approved_at: Timestamp.nullable(),
  })
  .meta({ id: 'Tenant' });
export type Tenant = z.infer<typeof Tenant>;

const CompanyName = z.string().trim().min(1).max(200);
const PersonName = z.string().trim().min(1).max(120);
const Phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9 ()-]{5,32}$/, 'phone must be digits, spaces, (), - and an optional leading +');
const Industry = z.string().trim().min(1).max(120);

export const SignupRequest = z
  .strictObject({
    company_name: CompanyName,
    contact_name: PersonName,
    contact_email: Email,
    contact_phone: Phone.optional(),
    business_size: z.enum(BUSINESS_SIZES).optional(),
    industry: Industry.optional(),
    owner_password: Password,
  })
  .meta({
    id: 'SignupRequest',
    example: {
      company_name: 'Acme Ltd',
      contact_name: 'Li Lei',
      contact_email: 'lilei@acme.example',
      business_size: '11-50',
      industry: 'retail',
      owner_password: 'correct-horse-battery',
    },
  });
export type SignupRequest = z.input<typeof SignupRequest>;

export const SignupResponse = z
  .object({
    tenant: Tenant,
    owner_id: z.string(),
    next_step: z.string(),
  })
  .meta({ id: 'SignupResponse' });

export const TenantUpdate = z
  .strictObject({
    company_name: CompanyName.optional(),
    contact_name: PersonName.optional(),
    contact_email: Email.optional(),
    contact_phone: Phone.nullable().optional(),
    business_size: z.enum(BUSINESS_SIZES).nullable().optional(),
    industry: Industry.nullable().optional(),
  })
  .meta({
    id: 'TenantUpdate',
    example: { industry: 'e-commerce', contact_phone: '+86 10 1234 5678' },
  });
export type TenantUpdate = z.input<typeof TenantUpdate>;

export const TenantListQuery = z.object({
  status: TenantStatus.optional(),
});

/** How new signups are approved: by hand, all at once, or when the contact email's domain is listed. */
export const AutoApprovalPolicy = z
  .discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('off') }),
    z.strictObject({ mode: z.literal('all') }),
    z.strictObject({
      mode: z.literal('email_domains'),
      domains: z
        .array(
          z
            .string()
            .trim()
            .toLowerCase()
            .regex(/^(?=.{1,253}$)([a-z0-9-]+\.)+[a-z]{2,}$/, 'not a domain name'),
        )
        .min(1)
        .max(1000),
    }),
  ])
  .meta({
    id: 'AutoApprovalPolicy',
    example: { mode: 'email_domains', domains: ['acme.example'] },
  });
export type AutoApprovalPolicy = z.infer<typeof AutoApprovalPolicy>;

export const TenantStatusEvent = z
  .object({
    from_status: TenantStatus.nullable(),
    to_status: TenantStatus,
    actor: z.string(),
    reason: z.string().nullable(),
    created_at: Timestamp,
  })
  .meta({ id: 'TenantStatusEvent' });

/** A tenant as operators see it: with its status history and owner. */
export const AdminTenant = Tenant.extend({
  owner_email: z.string().nullable(),
  member_count: z.number().int(),
  status_history: z.array(TenantStatusEvent),
}).meta({ id: 'AdminTenant' });
export type AdminTenant = z.infer<typeof AdminTenant>;

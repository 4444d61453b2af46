import {
  type AutoApprovalPolicy,
  TENANT_ACTIONS,
  type Tenant,
  type TenantAction,
  type TenantStatus,
} from '@astrdesk/protocol';
import { hashPassword, newId } from '../infra/crypto/index.js';
import { type Db, iso, isUniqueViolation, type Tx } from '../infra/db/index.js';
import type { TenantsTable } from '../infra/db/schema.js';
import { ApiError, notFound } from '../infra/http/errors.js';

export function toTenant(r: TenantsTable): Tenant {
  return {
    id: r.id,
    object: 'tenant',
    status: r.status as TenantStatus,
    status_reason: r.status_reason,
    company_name: r.company_name,
    contact_name: r.contact_name,
    contact_email: r.contact_email,
    contact_phone: r.contact_phone,
    business_size: r.business_size as Tenant['business_size'],
    industry: r.industry,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    approved_at: iso(r.approved_at),
  };
}

const POLICY_KEY = 'auto_approval_policy';

export async function getAutoApprovalPolicy(db: Db | Tx): Promise<AutoApprovalPolicy> {
  const row = await db
    .selectFrom('platform_settings')
    .select('value')
    .where('key', '=', POLICY_KEY)
    .executeTakeFirst();
  return row ? (JSON.parse(row.value) as AutoApprovalPolicy) : { mode: 'off' };
}

export async function setAutoApprovalPolicy(
  db: Db,
  policy: AutoApprovalPolicy,
  now: number,
): Promise<void> {
  await db
    .insertInto('platform_settings')
    .values({ key: POLICY_KEY, value: JSON.stringify(policy), updated_at: now })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({ value: JSON.stringify(policy), updated_at: now }),
    )
    .execute();
}

/** Whether a signup with this contact email is approved without an operator. */
export function autoApproves(policy: AutoApprovalPolicy, email: string): boolean {
  if (policy.mode === 'all') return true;
  if (policy.mode === 'off') return false;
  const domain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  return policy.domains.includes(domain);
}

export interface SignupInput {
  company_name: string;
  contact_name: string;
  contact_email: string;
  contact_phone?: string | undefined;
  business_size?: string | undefined;
  industry?: string | undefined;
  owner_password: string;
}

/** Creates a tenant and its owner in one transaction; the owner logs in with the contact email. */
export async function signup(db: Db, input: SignupInput, now: number) {
  const passwordHash = await hashPassword(input.owner_password);
  const tenantId = newId('tenant', now);
  const ownerId = newId('member', now);
  try {
    return await db.transaction().execute(async (tx) => {
      const policy = await getAutoApprovalPolicy(tx);
      const approved = autoApproves(policy, input.contact_email);
      const row: TenantsTable = {
        id: tenantId,
        status: approved ? 'active' : 'pending',
        status_reason: approved ? `auto-approved (${policy.mode})` : null,
        company_name: input.company_name,
        contact_name: input.contact_name,
        contact_email: input.contact_email,
        contact_phone: input.contact_phone ?? null,
        business_size: input.business_size ?? null,
        industry: input.industry ?? null,
        created_at: now,
        updated_at: now,
        approved_at: approved ? now : null,
      };
      await tx.insertInto('tenants').values(row).execute();
      await tx
        .insertInto('members')
        .values({
          id: ownerId,
          tenant_id: tenantId,
          email: input.contact_email,
          name: input.contact_name,
          role: 'owner',
          password_hash: passwordHash,
          disabled: 0,
          invite_token_hash: null,
          invite_expires_at: null,
          created_at: now,
          updated_at: now,
          last_login_at: null,
        })
        .execute();
      await tx
        .insertInto('tenant_status_events')
        .values({
          tenant_id: tenantId,
          from_status: null,
          to_status: row.status,
          actor: approved ? 'system:auto_approval' : 'system:signup',
          reason: row.status_reason,
          created_at: now,
        })
        .execute();
      return { tenant: toTenant(row), ownerId };
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new ApiError('already_exists', 'An account with this email already exists', {
        param: 'contact_email',
      });
    }
    throw err;
  }
}

/** Applies an operator action (approve, reject, suspend, reactivate) if the table allows it. */
export async function transitionTenant(
  db: Db,
  id: string,
  action: TenantAction,
  actor: string,
  reason: string | undefined,
  now: number,
) {
  const rule = TENANT_ACTIONS[action];
  return db.transaction().execute(async (tx) => {
    const row = await tx.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('tenant');
    if (!(rule.from as readonly string[]).includes(row.status)) {
      throw new ApiError(
        'invalid_state_transition',
        `Cannot ${action} a tenant that is ${row.status}`,
        {
          details: { current_status: row.status, allowed_from: rule.from },
        },
      );
    }
    const next: TenantsTable = {
      ...row,
      status: rule.to,
      status_reason: reason ?? null,
      updated_at: now,
      approved_at: rule.to === 'active' ? (row.approved_at ?? now) : row.approved_at,
    };
    await tx
      .updateTable('tenants')
      .set({
        status: next.status,
        status_reason: next.status_reason,
        updated_at: now,
        approved_at: next.approved_at,
      })
      .where('id', '=', id)
      .execute();
    await tx
      .insertInto('tenant_status_events')
      .values({
        tenant_id: id,
        from_status: row.status,
        to_status: rule.to,
        actor,
        reason: reason ?? null,
        created_at: now,
      })
      .execute();
    return toTenant(next);
  });
}

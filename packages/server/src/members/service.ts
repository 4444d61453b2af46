import type { Member, Role } from '@astrdesk/protocol';
import { iso, toBool } from '../infra/db/index.js';
import type { MembersTable } from '../infra/db/schema.js';

export function toMember(r: MembersTable): Member {
  return {
    id: r.id,
    object: 'member',
    tenant_id: r.tenant_id,
    email: r.email,
    name: r.name,
    role: r.role as Role,
    disabled: toBool(r.disabled),
    invite_pending: r.password_hash === null,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    last_login_at: iso(r.last_login_at),
  };
}

/** Roles a member may hand out: owners anything, admins up to admin, agents nothing. */
export function canAssignRole(actor: Role, target: Role): boolean {
  if (actor === 'owner') return true;
  if (actor === 'admin') return target !== 'owner';
  return false;
}

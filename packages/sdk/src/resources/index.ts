export { AdminResource, AdminTenantsResource, AutoApprovalResource } from './admin.js';
export { ApiKeysResource } from './api-keys.js';
export { AuthResource } from './auth.js';
export { MeResource } from './me.js';
export { MembersResource } from './members.js';
export { TenantResource } from './tenant.js';

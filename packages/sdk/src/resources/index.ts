export { AdminResource, AdminTenantsResource, AutoApprovalResource } from './admin.js';
export { ApiKeysResource } from './api-keys.js';
export { AuthResource } from './auth.js';
export { BlacklistResource } from './blacklist.js';
export { ContactsResource } from './contacts.js';
export {
  ConversationMessagesResource,
  ConversationSettingsResource,
  ConversationsResource,
} from './conversations.js';
export { InstancesResource } from './instances.js';
export { MeResource } from './me.js';
export { MembersResource } from './members.js';
export { MessagesResource } from './messages.js';
export { PresenceResource } from './presence.js';
export { RealtimeResource } from './realtime.js';
export { TenantResource } from './tenant.js';
export { WebhookDeliveriesResource, WebhookEndpointsResource } from './webhook-endpoints.js';
export { WebhooksResource } from './webhooks.js';

import { newRouter } from '../infra/http/router.js';
import type { Services } from '../infra/services.js';

/** Webhook endpoint routes (being built). */
export const webhookRoutes = newRouter();

/** Registers the in-transaction delivery hook and starts the delivery worker. */
export function installWebhooks(_s: Services): { stop(): Promise<void> | void } {
  return { stop() {} };
}

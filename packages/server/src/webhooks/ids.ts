import { newId } from '../infra/crypto/index.js';

/**
 * Id prefixes of this capability. Protocol's ID_PREFIXES does not list them yet, so ids are
 * made with the shared time-ordered generator and given their own prefix here.
 */
export const WEBHOOK_ID_PREFIXES = { endpoint: 'we', delivery: 'whd' } as const;

/** A time-ordered id such as `we_01JD3Y0M5Q8W2K7T4F9XG1B6CE`. */
export function webhookId(kind: keyof typeof WEBHOOK_ID_PREFIXES, now: number): string {
  const id = newId('event', now);
  return `${WEBHOOK_ID_PREFIXES[kind]}_${id.slice(id.indexOf('_') + 1)}`;
}

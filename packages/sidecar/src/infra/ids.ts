import { randomBytes } from 'node:crypto';
import { monotonicId } from '@astrdesk/protocol';

/**
 * Id of an outbox event: stable from the moment it is written, so ingest can dedupe on it;
 * time-ordered like the server's ids (the same {@link monotonicId}).
 *
 * @example newEventId() // 'sc_01JD3Y0M5Q8W2K7T4F9XG1B6CE'
 */
export const newEventId = (now?: number): string => monotonicId('sc', now);

const REQUEST_PREFIX = `req_${randomBytes(6).toString('hex')}`;
let requestCounter = 0;

/** A cheap per-process unique request id (no clock, no randomness per call). */
export function newRequestId(): string {
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  return `${REQUEST_PREFIX}${requestCounter.toString(36).padStart(6, '0')}`;
}

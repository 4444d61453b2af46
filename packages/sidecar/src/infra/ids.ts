import { monotonicId } from '@astrdesk/protocol';

/**
 * Id of an outbox event: stable from the moment it is written, so ingest can dedupe on it;
 * time-ordered like the server's ids (the same {@link monotonicId}).
 *
 * @example newEventId() // 'sc_01JD3Y0M5Q8W2K7T4F9XG1B6CE'
 */
export const newEventId = (now?: number): string => monotonicId('sc', now);

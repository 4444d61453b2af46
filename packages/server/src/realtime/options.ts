import type { Config } from '../config.js';

/** Tuning knobs of the realtime endpoint; the defaults suit production, tests shrink them. */
export interface RealtimeOptions {
  /** URL path of the endpoint. Default `/v1/realtime`. */
  path?: string;
  /**
   * Bytes a socket may have queued (ws + kernel-not-yet-accepted) before the next live event
   * closes it as a slow consumer (4008). Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Live events a socket may hold while it catches up from the log (resume, gap fill) before
   * it is closed as a slow consumer. Default 10,000.
   */
  maxPendingEvents?: number;
  /** Server ping interval. Default 30 s. */
  heartbeatIntervalMs?: number;
  /** Pings a socket may leave unanswered; at the next tick it is terminated. Default 2. */
  maxMissedPongs?: number;
  /** How often open sockets' credentials are re-checked (revoked → 4001). Default 60 s. */
  revalidateIntervalMs?: number;
  /** Events read from the log per query when replaying. Default 500. */
  replayPageSize?: number;
  /** How long a replay waits for a socket to drain below half its buffer. Default 30 s. */
  drainTimeoutMs?: number;
  /** Largest client frame accepted; larger closes with 1009. Default 64 KiB. */
  maxClientFrameBytes?: number;
  /** Missed events a resume may replay; more answers `resync_required`. Default `REALTIME_RESUME_WINDOW`. */
  resumeWindow?: number;
  /** On close(), how long sockets get to finish the closing handshake before being cut. Default 2 s. */
  closeGraceMs?: number;
}

export type ResolvedOptions = Required<RealtimeOptions>;

export function resolveOptions(config: Config, o: RealtimeOptions = {}): ResolvedOptions {
  return {
    path: o.path ?? '/v1/realtime',
    maxBufferedBytes: o.maxBufferedBytes ?? 1024 * 1024,
    maxPendingEvents: o.maxPendingEvents ?? 10_000,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? 30_000,
    maxMissedPongs: o.maxMissedPongs ?? 2,
    revalidateIntervalMs: o.revalidateIntervalMs ?? 60_000,
    replayPageSize: o.replayPageSize ?? 500,
    drainTimeoutMs: o.drainTimeoutMs ?? 30_000,
    maxClientFrameBytes: o.maxClientFrameBytes ?? 64 * 1024,
    resumeWindow: o.resumeWindow ?? config.REALTIME_RESUME_WINDOW,
    closeGraceMs: o.closeGraceMs ?? 2_000,
  };
}

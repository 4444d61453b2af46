import {
  InterceptRequest,
  type InterceptResponse,
  OutboundRequest,
  PLATFORMS,
  type Platform,
} from '@astrdesk/protocol';
import { Hono } from 'hono';
import type { Blacklist } from '../blacklist/index.js';
import { ApiError, type AppEnv, fromZodError, readJsonObject } from '../infra/http.js';
import { Histogram, LATENCY_BUCKETS } from '../infra/metrics.js';
import type { Outbox } from '../outbox/index.js';

export { OutboundRequest };

/** Intercept counters and latency, for health and metrics. */
export class InterceptStats {
  pass = 0;
  block = 0;
  outbound = 0;
  readonly latency = new Histogram(LATENCY_BUCKETS);
}

const PLATFORM_SET: ReadonlySet<string> = new Set(PLATFORMS);
const PASS: InterceptResponse = Object.freeze({ action: 'pass' as const });

function checkPlatform(platform: string): asserts platform is Platform {
  if (!PLATFORM_SET.has(platform))
    throw new ApiError(
      'validation_failed',
      `Invalid body field "platform": unknown platform ${JSON.stringify(platform)}; expected one of ${PLATFORMS.join(', ')} (use "other" with "adapter" for anything else)`,
      { param: 'platform' },
    );
}

export interface InterceptDeps {
  blacklist: Blacklist;
  outbox: Outbox;
  stats: InterceptStats;
  now: () => number;
}

/**
 * The intercept and outbound logic, independent of the HTTP layer: validate, probe the Map,
 * append to the outbox, answer. Throws {@link ApiError} on bad input.
 */
export class Interceptor {
  readonly #d: InterceptDeps;

  constructor(deps: InterceptDeps) {
    this.#d = deps;
  }

  /** The message hot path: one Map probe and one prepared INSERT, then `pass` or `block`. */
  async intercept(body: unknown): Promise<InterceptResponse> {
    const t0 = performance.now();
    const { blacklist, outbox, stats } = this.#d;
    const parsed = InterceptRequest.safeParse(body);
    if (!parsed.success) throw fromZodError(parsed.error);
    const req = parsed.data;
    checkPlatform(req.platform);
    const at = this.#d.now();
    const hit = blacklist.lookup(req.platform, req.user_id, at);
    // Field order follows MessageInboundData; absent optionals stay absent.
    const data: Record<string, unknown> = { platform: req.platform };
    if (req.platform_instance_id) data.platform_instance_id = req.platform_instance_id;
    data.platform_user_id = req.user_id;
    if (req.nickname !== undefined) data.nickname = req.nickname;
    // The server keeps it on the contact; an empty name carries nothing (and ingest wants 1–64).
    if (req.adapter) data.adapter = req.adapter;
    if (req.group_id !== undefined) data.group_id = req.group_id;
    data.platform_message_id = req.message_id;
    data.session_id = req.session;
    data.kind = req.kind;
    if (req.text !== undefined) data.text = req.text;
    data.sent_at = req.sent_at;
    let answer: InterceptResponse;
    if (hit === undefined) {
      await outbox.append('message.inbound', req.session, data, at);
      stats.pass++;
      answer = PASS;
    } else {
      data.message_status = 'blocked_by_blacklist';
      const reason = hit.reason === null ? undefined : hit.reason.slice(0, 1000);
      if (reason !== undefined) data.reason = reason;
      data.entry_id = hit.id;
      await outbox.append('message.blocked', req.session, data, at);
      stats.block++;
      answer =
        reason === undefined
          ? { action: 'block', entry_id: hit.id }
          : { action: 'block', reason, entry_id: hit.id };
    }
    stats.latency.observe((performance.now() - t0) / 1000);
    return answer;
  }

  /** A reply AstrBot sent by itself → `message.outbound_sent`. */
  async outbound(body: unknown): Promise<{ accepted: true; event_id: string }> {
    const parsed = OutboundRequest.safeParse(body);
    if (!parsed.success) throw fromZodError(parsed.error);
    const req = parsed.data;
    checkPlatform(req.platform);
    const at = this.#d.now();
    const data: Record<string, unknown> = { platform: req.platform };
    if (req.user_id !== undefined) data.platform_user_id = req.user_id;
    if (req.message_id) data.platform_message_id = req.message_id;
    data.session_id = req.session;
    data.kind = req.kind;
    if (req.text !== undefined) data.text = req.text;
    if (req.media !== undefined) data.media = req.media;
    data.sent_at = req.sent_at ?? new Date(at).toISOString();
    const id = await this.#d.outbox.append('message.outbound_sent', req.session, data, at);
    this.#d.stats.outbound++;
    return { accepted: true, event_id: id };
  }
}

export const INTERCEPT_PATH = '/astrbot-api/v1/messages/intercept';

/**
 * `POST /astrbot-api/v1/messages/intercept` and `POST /astrbot-api/v1/messages/outbound` as
 * Hono routes. (The HTTP server answers the intercept on a leaner path first, see
 * fast-path.ts; this route serves the same logic to `app.request` and anything else.)
 */
export function interceptRoutes(interceptor: Interceptor): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .post(INTERCEPT_PATH, async (c) =>
      c.json(await interceptor.intercept(await readJsonObject(c)), 200),
    )
    .post('/astrbot-api/v1/messages/outbound', async (c) =>
      c.json(await interceptor.outbound(await readJsonObject(c)), 202),
    );
}

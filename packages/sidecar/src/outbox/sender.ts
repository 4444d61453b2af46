import pRetry, { AbortError } from 'p-retry';
import type { HttpPost } from '../infra/http-client.js';

export type SendOutcome =
  /** 2xx: the server has every event of the batch (new or replayed). */
  | { kind: 'sent'; status: number; accepted: number | undefined }
  /** The server rejected the batch as invalid; `index` is the bad event when it says so. */
  | { kind: 'rejected'; status: number; index: number | undefined; error: string }
  /** Not delivered for a reason that is not the events' fault; keep them and try later. */
  | { kind: 'retry_later'; status: number | null; error: string; loud: boolean };

/** Statuses that mean "this batch is bad" (dead-letter the event), not "try again". */
const REJECT = new Set([400, 413, 422]);
/** Statuses worth retrying at once with backoff. */
const TRANSIENT = (s: number) => s === 408 || s === 425 || s === 429 || s >= 500;

class TransientError extends Error {}

/**
 * The request body `{"events":[...]}` from the stored JSON of each row, copied from its UTF-8
 * bytes when the row has them (encoded when it was appended, so no send encodes a whole 200 KB
 * body at once on the event loop that answers intercepts).
 */
export function batchBody(rows: readonly { payload: string | Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  let size = BODY_OPEN.length + BODY_CLOSE.length + Math.max(0, rows.length - 1);
  for (const r of rows) {
    const b = typeof r.payload === 'string' ? Buffer.from(r.payload, 'utf8') : r.payload;
    parts.push(b);
    size += b.length;
  }
  const body = Buffer.allocUnsafe(size);
  let at = BODY_OPEN.copy(body, 0);
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) body[at++] = COMMA;
    at += parts[i]!.copy(body, at);
  }
  BODY_CLOSE.copy(body, at);
  return body;
}

const BODY_OPEN = Buffer.from('{"events":[');
const BODY_CLOSE = Buffer.from(']}');
const COMMA = 0x2c;

/**
 * Sends one batch ({@link batchBody}) to `POST /v1/sidecar/events`. Network errors, timeouts,
 * 408/429/5xx are retried a few times with exponential backoff and jitter (p-retry); what still
 * fails comes back as `retry_later` for the outbox's own, longer backoff.
 */
export async function sendBatch(
  body: Uint8Array,
  opts: {
    url: URL;
    token: string;
    version: string;
    post: HttpPost;
    timeoutMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    retries?: number;
    signal: AbortSignal;
    onRetry?: (error: string) => void;
  },
): Promise<SendOutcome> {
  let last: SendOutcome | undefined;
  try {
    return await pRetry(
      async () => {
        if (opts.signal.aborted) throw new AbortError('outbox closing');
        let res: { status: number; text: string };
        try {
          res = await opts.post(opts.url, {
            headers: {
              authorization: `Bearer ${opts.token}`,
              'content-type': 'application/json',
              'user-agent': `astrdesk-sidecar/${opts.version}`,
            },
            body,
            signal: opts.signal,
            timeoutMs: opts.timeoutMs,
          });
        } catch (err) {
          if (opts.signal.aborted) throw new AbortError('outbox closing');
          const msg = describeError(err);
          last = { kind: 'retry_later', status: null, error: msg, loud: false };
          throw new TransientError(msg);
        }
        const outcome = classifyResponse(res.status, res.text);
        if (
          outcome.kind === 'retry_later' &&
          outcome.status !== null &&
          TRANSIENT(outcome.status)
        ) {
          last = outcome;
          throw new TransientError(outcome.error);
        }
        return outcome;
      },
      {
        retries: opts.retries ?? 3,
        factor: 2,
        minTimeout: opts.retryMinMs,
        maxTimeout: opts.retryMaxMs,
        randomize: true,
        signal: opts.signal,
        unref: true,
        shouldRetry: ({ error }) => error instanceof TransientError,
        onFailedAttempt: ({ error, retriesLeft }) => {
          if (retriesLeft > 0) opts.onRetry?.(error.message);
        },
      },
    );
  } catch (err) {
    if (opts.signal.aborted) throw err;
    if (last) return last;
    return {
      kind: 'retry_later',
      status: null,
      error: err instanceof Error ? err.message : String(err),
      loud: false,
    };
  }
}

/** What a response means for the batch. */
export function classifyResponse(status: number, text: string): SendOutcome {
  if (status >= 200 && status < 300) {
    let accepted: number | undefined;
    try {
      const a = (JSON.parse(text) as { accepted?: unknown }).accepted;
      if (typeof a === 'number') accepted = a;
    } catch {}
    return { kind: 'sent', status, accepted };
  }
  let code: string | undefined;
  let message: string | undefined;
  let param: string | undefined;
  let index: number | undefined;
  try {
    const e = (JSON.parse(text) as { error?: Record<string, unknown> }).error;
    if (e) {
      code = typeof e.code === 'string' ? e.code : undefined;
      message = typeof e.message === 'string' ? e.message : undefined;
      param = typeof e.param === 'string' ? e.param : undefined;
      const details = e.details as { index?: unknown } | undefined;
      if (typeof details?.index === 'number') index = details.index;
    }
  } catch {}
  if (index === undefined && param) {
    const m = /^events[.[](\d+)/.exec(param);
    if (m) index = Number(m[1]);
  }
  const error = `HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : text ? `: ${text.slice(0, 300)}` : ''}${param ? ` (param ${param})` : ''}`;
  if (REJECT.has(status)) return { kind: 'rejected', status, index, error };
  // 401/403: token or tenant problem; 404: a server without the endpoint. Not the events' fault.
  return {
    kind: 'retry_later',
    status,
    error,
    loud: status === 401 || status === 403 || status === 404,
  };
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'request timed out';
    // node:http puts the code on the error itself (its message names it); fetch on `cause`.
    if ((err as { code?: string }).code) return err.message;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${err.message}: ${cause.code}`;
    if (cause?.message) return `${err.message}: ${cause.message}`;
    return err.message;
  }
  return String(err);
}

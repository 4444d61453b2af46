import pRetry, { AbortError } from 'p-retry';

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
 * Sends one batch to `POST /v1/sidecar/events`: `{"events":[...]}` built from the stored JSON
 * of each row (no re-serialisation). Network errors, timeouts, 408/429/5xx are retried a few
 * times with exponential backoff and jitter (p-retry); what still fails comes back as
 * `retry_later` for the outbox's own, longer backoff.
 */
export async function sendBatch(
  rows: readonly { payload: string }[],
  opts: {
    url: string;
    token: string;
    version: string;
    fetch: typeof fetch;
    timeoutMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    retries?: number;
    signal: AbortSignal;
    onRetry?: (error: string) => void;
  },
): Promise<SendOutcome> {
  let body = '{"events":[';
  for (let i = 0; i < rows.length; i++) body += (i > 0 ? ',' : '') + rows[i]!.payload;
  body += ']}';
  // Bytes, not the string: fetch would first rescan a string body for lone surrogates
  // (toUSVString) on the event loop that answers intercepts; the payloads are already valid
  // JSON text, so encoding them once is all that is needed.
  const bytes = Buffer.from(body, 'utf8');
  let last: SendOutcome | undefined;
  try {
    return await pRetry(
      async () => {
        if (opts.signal.aborted) throw new AbortError('outbox closing');
        let res: Response;
        try {
          res = await opts.fetch(opts.url, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${opts.token}`,
              'content-type': 'application/json',
              'user-agent': `astrdesk-sidecar/${opts.version}`,
            },
            body: bytes,
            signal: AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]),
          });
        } catch (err) {
          if (opts.signal.aborted) throw new AbortError('outbox closing');
          const msg = describeFetchError(err);
          last = { kind: 'retry_later', status: null, error: msg, loud: false };
          throw new TransientError(msg);
        }
        const text = await res.text().catch(() => '');
        const outcome = classifyResponse(res.status, text);
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

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'request timed out';
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${err.message}: ${cause.code}`;
    if (cause?.message) return `${err.message}: ${cause.message}`;
    return err.message;
  }
  return String(err);
}

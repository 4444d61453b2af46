import http from 'node:http';
import https from 'node:https';

/** What the outbox needs of an HTTP client: one POST, the status and the body text back. */
export type HttpPost = (
  url: URL,
  init: {
    headers: Record<string, string>;
    body: Uint8Array;
    /** Abandons the request (rejects with an `AbortError`). */
    signal: AbortSignal;
    /** Whole-request limit; past it the request rejects with a `TimeoutError`. */
    timeoutMs: number;
  },
) => Promise<{ status: number; text: string }>;

/** The rejection of a request past its `timeoutMs`. */
export function timeoutError(ms: number): Error {
  const err = new Error(`request timed out after ${ms} ms`);
  err.name = 'TimeoutError';
  return err;
}

/**
 * POST on node:http(s) with one keep-alive connection per client. The default: `fetch`
 * (undici) builds web streams, a Request and a Headers list per call, which cost the sender
 * ~1 ms of the event loop per batch, on the thread that answers intercepts.
 *
 * Rejects with the socket's error (its `code`, e.g. `ECONNREFUSED`), a `TimeoutError`, or,
 * when `signal` aborts, an `AbortError` whose `cause` is the signal's reason.
 */
export function nodeHttpPost(): HttpPost {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 1 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 1 }),
  };
  return (url, init) =>
    new Promise((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const req = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: agents[secure ? 'https:' : 'http:'],
          headers: { ...init.headers, 'content-length': String(init.body.byteLength) },
          signal: init.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', fail);
        },
      );
      // A plain timer, not AbortSignal.timeout + AbortSignal.any: those cost more per request.
      const timer = setTimeout(() => req.destroy(timeoutError(init.timeoutMs)), init.timeoutMs);
      function fail(err: Error): void {
        clearTimeout(timer);
        reject(err);
      }
      req.on('error', fail);
      req.end(init.body);
    });
}

/** The same seam over a `fetch` implementation (tests and embedders may pass their own). */
export function fetchPost(fetchImpl: typeof fetch): HttpPost {
  return async (url, init) => {
    const timeout = AbortSignal.timeout(init.timeoutMs);
    const res = await fetchImpl(url, {
      method: 'POST',
      headers: init.headers,
      body: init.body,
      signal: AbortSignal.any([init.signal, timeout]),
    }).catch((err: unknown) => {
      throw timeout.aborted ? timeoutError(init.timeoutMs) : err;
    });
    return { status: res.status, text: await res.text().catch(() => '') };
  };
}

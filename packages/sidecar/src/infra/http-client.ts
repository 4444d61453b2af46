import http from 'node:http';
import https from 'node:https';

/** What the outbox needs of an HTTP client: one POST, the status and the body text back. */
export interface HttpPost {
  (
    url: URL,
    init: {
      headers: Record<string, string>;
      body: Uint8Array;
      /** Abandons the request at any point (rejects with an `AbortError`). */
      signal: AbortSignal;
      /** Whole-request limit; past it the request rejects with a `TimeoutError`. */
      timeoutMs: number;
    },
  ): Promise<{ status: number; text: string }>;
  /** Releases kept-alive connections (the outbox calls it on close). */
  close?(): void;
}

/** The rejection of a request past its `timeoutMs`. */
export function timeoutError(ms: number): Error {
  const err = new Error(`request timed out after ${ms} ms`);
  err.name = 'TimeoutError';
  return err;
}

function abortError(signal: AbortSignal): Error {
  const err = new Error('the request was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}

/**
 * POST on node:http(s) with one keep-alive connection per client. The default: `fetch`
 * (undici) builds web streams, a Request and a Headers list per call, which cost the sender
 * ~1 ms of the event loop per batch, on the thread that answers intercepts.
 *
 * Rejects with the socket's error (its `code`, e.g. `ECONNREFUSED`), a `TimeoutError`, or,
 * when `signal` aborts (also while the response is awaited or read), an `AbortError` whose
 * `cause` is the signal's reason. A kept-alive socket the server closed just as it was reused
 * (`ECONNRESET` before any response) is retried once on a new one.
 */
export function nodeHttpPost(): HttpPost {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 1 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 1 }),
  };
  type Init = Parameters<HttpPost>[1];
  const once = (url: URL, init: Init, retryOnReset: boolean) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const { signal } = init;
      if (signal.aborted) return reject(abortError(signal));
      const secure = url.protocol === 'https:';
      let settled = false;
      let responded = false;
      const settle = (err: Error | undefined, value?: { status: number; text: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: agents[secure ? 'https:' : 'http:'],
          headers: { ...init.headers, 'content-length': String(init.body.byteLength) },
        },
        (res) => {
          responded = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            settle(undefined, {
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (err) => settle(err));
        },
      );
      // A listener of our own: `http.request`'s `signal` option stops working once the body is
      // sent, and the wait for the answer is most of a request's life.
      const onAbort = () => req.destroy(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      // A plain timer, not AbortSignal.timeout + AbortSignal.any: those cost more per request.
      const timer = setTimeout(() => req.destroy(timeoutError(init.timeoutMs)), init.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (retryOnReset && !responded && req.reusedSocket && err.code === 'ECONNRESET') {
          settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          once(url, init, false).then(resolve, reject);
          return;
        }
        settle(err);
      });
      req.end(init.body);
    });
  const post: HttpPost = (url, init) => once(url, init, true);
  post.close = () => {
    agents['http:'].destroy();
    agents['https:'].destroy();
  };
  return post;
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

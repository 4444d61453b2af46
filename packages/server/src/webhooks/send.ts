import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import {
  bareHost,
  guardedLookup,
  isBlockedAddress,
  type Resolver,
  systemResolver,
  TargetNotAllowedError,
} from './target.js';

export interface SendRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
  resolve?: Resolver;
}

export interface SendResult {
  /** The HTTP status, or null when no response arrived. */
  statusCode: number | null;
  /** Why the attempt failed (null on a 2xx). Never contains the body or the secret. */
  error: string | null;
  durationMs: number;
  /** True when retrying cannot help (the target is not allowed). */
  refused: boolean;
}

const MAX_ERROR_LENGTH = 500;

function describeError(err: unknown, timeoutMs: number): string {
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError' || e?.code === 'ABORT_ERR')
    return `timed out after ${timeoutMs} ms`;
  const msg = e?.message || String(err);
  const text = e?.code && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
  return text.slice(0, MAX_ERROR_LENGTH);
}

/**
 * POSTs one webhook. Uses node:http(s) rather than fetch so that the connection goes only to
 * an address that passed the SSRF check ({@link guardedLookup}); redirects are never
 * followed (a 3xx is a failure); the whole exchange is bounded by `timeoutMs`. Never throws.
 */
export function sendWebhook(req: SendRequest): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const fail = (error: string, refused = false): SendResult => ({
    statusCode: null,
    error,
    durationMs: elapsed(),
    refused,
  });

  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return Promise.resolve(fail('target URL does not parse', true));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return Promise.resolve(fail('target not allowed: only http and https URLs', true));
  const host = bareHost(url);
  // IP literals never go through `lookup`, so check them here.
  if (isIP(host) && !req.allowPrivate && isBlockedAddress(host)) {
    return Promise.resolve(
      fail(`target not allowed: ${host} is a private, loopback or reserved address`, true),
    );
  }

  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const done = (r: SendResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const options: https.RequestOptions = {
      method: 'POST',
      protocol: url.protocol,
      hostname: host,
      path: `${url.pathname}${url.search}`,
      headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) },
      lookup: guardedLookup(req.allowPrivate, req.resolve ?? systemResolver),
      signal: AbortSignal.timeout(req.timeoutMs),
      agent: false,
    };
    if (url.port) options.port = Number(url.port);
    if (url.username || url.password)
      options.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    try {
      const request = (url.protocol === 'https:' ? https : http).request(options, (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', () => {});
        // The body is not recorded; read and drop it so the socket can close cleanly.
        res.resume();
        const ok = status >= 200 && status < 300;
        done({
          statusCode: status,
          error: ok
            ? null
            : status >= 300 && status < 400
              ? `redirect (HTTP ${status}) not followed`
              : `HTTP ${status}`,
          durationMs: elapsed(),
          refused: false,
        });
      });
      request.on('error', (err) =>
        done(
          err instanceof TargetNotAllowedError
            ? fail(err.message, true)
            : fail(describeError(err, req.timeoutMs)),
        ),
      );
      request.end(req.body);
    } catch (err) {
      done(fail(describeError(err, req.timeoutMs)));
    }
  });
}

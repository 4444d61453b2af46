import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestIdFrom } from '@astrdesk/protocol';
import type { Logger } from 'pino';
import {
  ApiError,
  bearerChecker,
  envelope,
  parseJsonObject,
  toApiError,
  WWW_AUTHENTICATE,
} from '../infra/http.js';
import { INTERCEPT_PATH, type Interceptor } from './index.js';

const PASS_BODY = '{"action":"pass"}';

/**
 * `POST /astrbot-api/v1/messages/intercept` straight on node:http, in front of the Hono app:
 * the same auth, body limit, validation, error envelope and request log as the Hono routes,
 * without building a Web Request/Response per message (that cost more than the rest of the
 * intercept put together). Returns false for any other request, which then goes to Hono.
 */
export function createFastIntercept(opts: {
  interceptor: Interceptor;
  apiToken: string;
  bodyLimitBytes: number;
  log: Logger;
}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { interceptor, bodyLimitBytes: limit, log } = opts;
  const checkBearer = bearerChecker(opts.apiToken);

  return (req, res) => {
    if (req.method !== 'POST' || req.url !== INTERCEPT_PATH) return false;
    const start = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    let done = false;

    const reply = (status: number, body: string, close = false, auth?: string) => {
      if (done) return;
      done = true;
      const headers: Record<string, string | number> = {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-request-id': requestId,
      };
      if (auth) headers['www-authenticate'] = auth;
      if (close) headers.connection = 'close';
      res.writeHead(status, headers);
      res.end(body);
      log.info(
        {
          request_id: requestId,
          method: 'POST',
          path: INTERCEPT_PATH,
          status,
          ms: Math.round((performance.now() - start) * 100) / 100,
        },
        'request',
      );
    };
    const fail = (err: unknown, close = false) => {
      const e = toApiError(err);
      if (!(err instanceof ApiError))
        log.error({ err, request_id: requestId, path: INTERCEPT_PATH }, 'unhandled error');
      const body = JSON.stringify(
        envelope(e.code, e.message, requestId, { param: e.param, details: e.details }),
      );
      reply(e.status, body, close, e.status === 401 ? WWW_AUTHENTICATE(e) : undefined);
    };
    const tooLarge = () =>
      new ApiError(
        'payload_too_large',
        `The request body is larger than ${limit} bytes (SIDECAR_BODY_LIMIT_BYTES)`,
      );

    try {
      checkBearer(req.headers.authorization);
    } catch (err) {
      req.resume();
      fail(err);
      return true;
    }
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      req.resume();
      fail(tooLarge(), true);
      return true;
    }

    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        fail(tooLarge(), true);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => {
      if (!done) log.debug({ err: err.message, request_id: requestId }, 'request aborted');
      done = true;
    });
    req.on('end', () => {
      if (done) return;
      let body: Record<string, unknown>;
      try {
        const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        body = parseJsonObject(buf.toString('utf8'));
      } catch (err) {
        fail(err);
        return;
      }
      interceptor.intercept(body).then(
        (answer) => reply(200, answer.action === 'pass' ? PASS_BODY : JSON.stringify(answer)),
        (err) => fail(err),
      );
    });
    return true;
  };
}

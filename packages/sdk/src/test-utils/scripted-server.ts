/**
 * A real HTTP server on 127.0.0.1 that answers a scripted sequence of responses and records
 * every request it received. Test-only (Node): never exported from the package.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AstrDesk, type ClientOptions } from '../client.js';

export interface ScriptedResponse {
  status: number;
  /** JSON-encoded unless `raw` is set. */
  body?: unknown;
  /** Sent as-is. */
  raw?: string;
  headers?: Record<string, string>;
  /** Never answer (the client must time out or abort). */
  hang?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/v1/members?limit=2`. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Script =
  | ScriptedResponse[]
  | ((req: RecordedRequest, index: number) => ScriptedResponse);

export interface ScriptedServer {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function scriptedServer(script: Script): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      const index = requests.length;
      requests.push(recorded);
      const step =
        typeof script === 'function'
          ? script(recorded, index)
          : (script[Math.min(index, script.length - 1)] ?? {
              status: 500,
              body: { error: 'script exhausted' },
            });
      if (step.hang) return;
      const payload = step.raw ?? (step.body === undefined ? '' : JSON.stringify(step.body));
      res.writeHead(step.status, {
        ...(step.raw === undefined && step.body !== undefined
          ? { 'content-type': 'application/json' }
          : {}),
        'x-request-id': `req_test_${index}`,
        ...step.headers,
      });
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A client whose retry waits are recorded instead of slept, so tests run fast and can check them. */
export class TestClient extends AstrDesk {
  readonly sleeps: number[] = [];

  constructor(options: ClientOptions = {}) {
    super({ apiKey: 'adk_test', ...options });
  }

  protected override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
  }
}

/** An error envelope as the server sends it. */
export function envelope(
  code: string,
  type: string,
  message: string,
  extra: { param?: string; request_id?: string; details?: Record<string, unknown> } = {},
) {
  return { error: { type, code, message, request_id: 'req_from_body', ...extra } };
}

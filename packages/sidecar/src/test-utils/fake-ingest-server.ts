/**
 * A FAKE of the server's `POST /v1/sidecar/events` on a real node:http server, for tests. It
 * validates like the real ingest (one bad event rejects the batch with 400 naming
 * `events.<i>...`), is idempotent on event ids, records every batch, and can be told to fail.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MAX_INGEST_BATCH,
  type SidecarEvent,
  SidecarEvent as SidecarEventSchema,
} from '@astrdesk/protocol';

export class FakeIngestServer {
  readonly server: http.Server;
  url = '';
  port = 0;
  /** Every batch that reached the handler, as received (also failed ones). */
  readonly batches: unknown[][] = [];
  /** Events accepted, in order, each id once. */
  readonly accepted: SidecarEvent[] = [];
  /** How many times each id was received in a batch answered 2xx. */
  readonly deliveries = new Map<string, number>();
  /** Answer every request with this status (e.g. 500, 503, 429) while set. */
  failWith: number | null = null;
  /** Treat an event as invalid (answers 400 naming it), like a server-side validation failure. */
  reject: ((event: Record<string, unknown>) => boolean) | null = null;
  /** Omit `param`/`details` from 400 answers (a server that does not name the bad event). */
  anonymousRejects = false;
  token: string | null = null;

  private constructor() {
    this.server = http.createServer((req, res) => this.#handle(req, res));
  }

  static async start(port = 0): Promise<FakeIngestServer> {
    const s = new FakeIngestServer();
    await s.listen(port);
    return s;
  }

  async listen(port = this.port): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  /** Stops listening (connections refused) until {@link listen} again. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const err = (status: number, code: string, message: string, extra: object = {}) =>
        send(status, { error: { type: 'x', code, message, request_id: 'req_fake', ...extra } });
      if (req.method !== 'POST' || req.url !== '/v1/sidecar/events')
        return err(404, 'route_not_found', 'no route');
      if (this.token && req.headers.authorization !== `Bearer ${this.token}`)
        return err(401, 'invalid_token', 'bad token');
      let body: { events?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: unknown };
      } catch {
        return err(400, 'invalid_json', 'not JSON');
      }
      const events = body.events;
      if (!Array.isArray(events) || events.length < 1 || events.length > MAX_INGEST_BATCH)
        return err(400, 'validation_failed', 'events: 1..500', { param: 'events' });
      this.batches.push(events);
      if (this.failWith !== null) return err(this.failWith, 'service_unavailable', 'failing');
      const parsed: SidecarEvent[] = [];
      for (let i = 0; i < events.length; i++) {
        const r = SidecarEventSchema.safeParse(events[i]);
        const bad = !r.success || this.reject?.(events[i] as Record<string, unknown>);
        if (bad) {
          const path = r.success ? ['data'] : r.error.issues[0]!.path;
          return err(
            400,
            'validation_failed',
            `events[${i}]: invalid`,
            this.anonymousRejects
              ? {}
              : { param: ['events', i, ...path].join('.'), details: { index: i } },
          );
        }
        parsed.push(r.data);
      }
      let accepted = 0;
      for (const e of parsed) {
        const n = this.deliveries.get(e.id) ?? 0;
        this.deliveries.set(e.id, n + 1);
        if (n === 0) {
          this.accepted.push(e);
          accepted++;
        }
      }
      send(200, {
        object: 'ingest_result',
        accepted,
        results: parsed.map((e) => ({ id: e.id, message_id: `msg_${e.id}` })),
      });
    });
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.stop();
  }
}

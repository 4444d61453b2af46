import { AstrDeskError } from '../error.js';
import {
  RealtimeConnection,
  type RealtimeConnectOptions,
  type WebSocketConstructor,
} from '../realtime.js';
import { APIResource } from '../resource.js';

/**
 * The tenant's events as they happen, over a WebSocket (`GET /v1/realtime`, a member session or
 * an API key with `conversations:read`).
 */
export class RealtimeResource extends APIResource {
  /**
   * Opens a realtime connection. It authenticates with the `token` query parameter (browsers
   * cannot set headers on a WebSocket), reconnects by itself and resumes where it left off.
   *
   * Needs a WebSocket: the global one (browsers, Node ≥ 22, Deno, Bun), or on Node 20 the
   * `ws` package's: `client.realtime.connect({ WebSocket })` with `import { WebSocket } from 'ws'`.
   *
   * @example
   * const conn = client.realtime.connect({ lastSeq: savedSeq });
   * conn.on('resync', () => reloadEverything());
   * for await (const event of conn) {
   *   savedSeq = event.seq;
   *   if (event.type === 'message.created') render(event.data);
   * }
   */
  connect(options: RealtimeConnectOptions = {}): RealtimeConnection {
    const WebSocket =
      options.WebSocket ??
      (globalThis as { WebSocket?: WebSocketConstructor | undefined }).WebSocket;
    if (typeof WebSocket !== 'function') {
      throw new AstrDeskError(
        "No global WebSocket in this runtime (Node < 22): pass one, e.g. client.realtime.connect({ WebSocket }) with import { WebSocket } from 'ws'",
      );
    }
    const token = options.token ?? this._client.apiKey;
    if (!token) {
      throw new AstrDeskError(
        'The realtime connection needs a credential: a member session token or an API key with conversations:read',
      );
    }
    const client =
      token === this._client.apiKey ? this._client : this._client.withOptions({ apiKey: token });
    return new RealtimeConnection(
      {
        url: this.url(),
        token,
        WebSocket,
        whoAmI: () => client.me.retrieve({ maxRetries: 0, timeout: 10_000 }),
      },
      options,
    );
  }

  /** The endpoint's `ws://` or `wss://` URL, without credential (from the client's `baseURL`). */
  url(): URL {
    const base = this._client.baseURL;
    const location = (globalThis as { location?: { href?: string } }).location?.href;
    let url: URL;
    try {
      // A relative baseURL (`/astrdesk` in a browser) is resolved against the page.
      url = new URL(`${base}/v1/realtime`, location);
    } catch (err) {
      throw new AstrDeskError(`Cannot build the realtime URL from baseURL ${base}`, { cause: err });
    }
    if (url.protocol === 'http:') url.protocol = 'ws:';
    else if (url.protocol === 'https:') url.protocol = 'wss:';
    else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new AstrDeskError(`Cannot open a WebSocket to a ${url.protocol} baseURL`);
    }
    url.search = '';
    url.hash = '';
    return url;
  }
}

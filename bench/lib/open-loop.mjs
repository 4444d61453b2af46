// An open-loop HTTP/1.1 load: requests are sent on a fixed schedule (`rate` per second),
// whether or not earlier ones have been answered, over a pool of keep-alive connections.
//
// Why not autocannon's `overallRate`: autocannon gives each connection a per-second quota and
// resets it once a second, so each connection sends as fast as it can until the quota is used
// and then idles. That is a closed-loop burst at the start of every second, not a rate: the
// latency it reports is the saturated queue of the burst. Here the i-th request is due at
// start + i/rate; it goes out on an idle connection (a new one is opened while fewer than
// `maxConnections` are open), so a stalled server keeps receiving requests on other sockets
// and the stall shows in their latency (no coordinated omission) unless every connection is
// busy, which is counted (`client_queued`).
//
// Two latencies per request:
//   service   — from the request's write to its response's last byte (what autocannon reports);
//   corrected — from when it was due (adds the client's own timer lateness and any wait for a
//               free connection; wrk2's "corrected" latency).
// Timers fire at 1 ms granularity, so at 5,000/s requests leave in groups of about five per
// millisecond; both targets of a comparison get the same schedule.
//
// Only what the benches need: POST or GET with a fixed body, responses with content-length.
import net from 'node:net';

/**
 * @param {{ url: string, path: string, method?: string, headers?: Record<string,string>,
 *   body?: string, rate: number, seconds: number, maxConnections?: number,
 *   warmConnections?: number, drainTimeoutMs?: number }} o
 * @returns {Promise<{ requests: number, rate: number, seconds: number, elapsed_s: number,
 *   service: number[], corrected: number[], due_ms: number[], statuses: Record<number, number>,
 *   errors: number, client_queued: number, connections_opened: number,
 *   max_timer_late_ms: number, unanswered: number }>}
 */
export function openLoop(o) {
  const u = new URL(o.url);
  const host = u.hostname;
  const port = Number(u.port || 80);
  const body = Buffer.from(o.body ?? '');
  const head = [`${o.method ?? 'POST'} ${o.path} HTTP/1.1`, `host: ${u.host}`];
  for (const [k, v] of Object.entries(o.headers ?? {})) head.push(`${k}: ${v}`);
  head.push(`content-length: ${body.length}`, '', '');
  const request = Buffer.concat([Buffer.from(head.join('\r\n')), body]);

  const total = Math.round(o.rate * o.seconds);
  if (!(total > 0)) return Promise.reject(new Error('openLoop: rate × seconds must be at least 1'));
  const interval = 1000 / o.rate;
  const maxConnections = o.maxConnections ?? 64;
  const service = new Float64Array(total);
  const corrected = new Float64Array(total);
  const dueAt = new Float64Array(total);
  const statuses = {};
  let answered = 0;
  let errors = 0;
  let clientQueued = 0;
  let opened = 0;
  let maxLate = 0;
  const idle = [];
  const waiting = []; // due times of requests with no free connection
  const all = new Set();

  return new Promise((resolve, reject) => {
    let start = 0;
    let lastAnswerAt = 0;
    let sent = 0;
    let finished = false;
    let timer;

    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      for (const c of all) c.socket.destroy();
      const n = answered;
      resolve({
        requests: total,
        rate: o.rate,
        seconds: o.seconds,
        elapsed_s: ((lastAnswerAt || performance.now()) - start) / 1000,
        service: Array.from(service.subarray(0, n)),
        corrected: Array.from(corrected.subarray(0, n)),
        due_ms: Array.from(dueAt.subarray(0, n)),
        statuses,
        errors,
        client_queued: clientQueued,
        connections_opened: opened,
        max_timer_late_ms: Math.round(maxLate * 1000) / 1000,
        unanswered: total - n - errors,
      });
    };
    const settled = () => {
      if (answered + errors === total) finish();
    };

    const send = (c, due) => {
      c.due = due;
      c.sentAt = performance.now();
      c.busy = true;
      c.socket.write(request);
    };
    const release = (c) => {
      c.busy = false;
      const due = waiting.shift();
      if (due !== undefined) send(c, due);
      else idle.push(c);
    };

    const connect = (due) => {
      opened++;
      // `due` is set now, so a request whose connection never opens is counted as an error.
      const c = { socket: net.connect({ host, port, noDelay: true }), buf: null, busy: true, due };
      all.add(c);
      c.socket.once('connect', () => {
        if (due === undefined) release(c);
        else send(c, due);
      });
      c.socket.on('data', (chunk) => {
        if (!c.busy) {
          // Bytes nobody asked for (no request in flight): the connection is unusable.
          c.socket.destroy();
          return;
        }
        c.buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
        // One request in flight per connection: at most one response to take.
        const end = c.buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const headText = c.buf.toString('latin1', 0, end);
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
        if (!m) {
          c.socket.destroy(new Error(`response without content-length: ${headText.slice(0, 80)}`));
          return;
        }
        const size = end + 4 + Number(m[1]);
        if (c.buf.length < size) return;
        const now = performance.now();
        const status = Number(headText.slice(9, 12));
        statuses[status] = (statuses[status] ?? 0) + 1;
        service[answered] = now - c.sentAt;
        corrected[answered] = now - c.due;
        dueAt[answered] = c.due - start;
        answered++;
        lastAnswerAt = now;
        c.buf = c.buf.length > size ? c.buf.subarray(size) : null;
        release(c);
        settled();
      });
      c.socket.on('error', () => {});
      c.socket.on('close', () => {
        all.delete(c);
        const i = idle.indexOf(c);
        if (i !== -1) idle.splice(i, 1);
        if (c.busy && c.due !== undefined && !finished) {
          errors++;
          settled();
          // A request that had to wait for a connection goes out on a new one.
          const due = waiting.shift();
          if (due !== undefined) connect(due);
        }
      });
    };

    const dispatch = (due) => {
      const c = idle.pop();
      if (c) send(c, due);
      else if (all.size < maxConnections) connect(due);
      else {
        clientQueued++;
        waiting.push(due);
      }
    };

    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      if (sent < due) maxLate = Math.max(maxLate, now - (start + sent * interval));
      while (sent < due) dispatch(start + sent++ * interval);
      if (sent < total) timer = setTimeout(tick, Math.max(0, start + sent * interval - now));
      else timer = setTimeout(finish, o.drainTimeoutMs ?? 10_000);
    };

    // Open the warm connections first, then start the clock.
    const warm = Math.min(o.warmConnections ?? 16, maxConnections);
    for (let i = 0; i < warm; i++) connect(undefined);
    const connectBy = performance.now() + 5000;
    const ready = () => {
      if (idle.length < warm) {
        if (performance.now() < connectBy) return setTimeout(ready, 5);
        for (const c of all) c.socket.destroy();
        return reject(new Error(`could not open ${warm} connections to ${o.url} in 5 s`));
      }
      start = performance.now();
      tick();
    };
    ready();
  });
}

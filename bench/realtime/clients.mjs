// Child of bench/realtime/fanout.mjs: opens N realtime sockets and timestamps every event
// frame on arrival with process.hrtime.bigint() (CLOCK_MONOTONIC, shared by every process on
// the machine, so the parent can subtract its own write timestamp). When all N sockets have an
// event, the N arrival times go back to the parent over IPC.
//
// Also usable in-process: `runClients({...}, send)` (fanout.mjs --clients-inproc).
import WebSocket from 'ws';

/**
 * @param {{ url: string, token: string, count: number }} cfg
 * @param {(msg: object) => void} send
 */
export function runClients(cfg, send) {
  const sockets = [];
  /** seq → arrival times (ns, as Number) */
  const arrivals = new Map();
  let ready = 0;
  let failed = 0;

  const onEvent = (seq, t) => {
    let a = arrivals.get(seq);
    if (!a) {
      a = [];
      arrivals.set(seq, a);
    }
    a.push(t);
    if (a.length === cfg.count) {
      arrivals.delete(seq);
      send({ type: 'arrived', seq, times: a });
    }
  };

  const open = (i) =>
    new Promise((resolve) => {
      const ws = new WebSocket(`${cfg.url}/v1/realtime`, {
        headers: { authorization: `Bearer ${cfg.token}` },
        perMessageDeflate: false,
      });
      sockets.push(ws);
      ws.on('message', (data) => {
        const t = Number(process.hrtime.bigint());
        // Frames are small; `"seq":N` is the first field of the envelope, but parse properly.
        const f = JSON.parse(data.toString());
        if (f.type === 'event') onEvent(f.event.seq, t);
        else if (f.type === 'ready') {
          ready++;
          resolve();
        }
      });
      ws.on('error', (err) => {
        failed++;
        send({ type: 'error', socket: i, message: err.message });
        resolve();
      });
      ws.on('close', (code, reason) => {
        if (!closing) send({ type: 'closed', socket: i, code, reason: reason.toString() });
      });
    });

  let closing = false;
  return {
    async connect() {
      // Open in waves so the accept queue and auth are not hit by 1,000 SYNs at once.
      const wave = 100;
      for (let i = 0; i < cfg.count; i += wave) {
        const batch = [];
        for (let j = i; j < Math.min(cfg.count, i + wave); j++) batch.push(open(j));
        await Promise.all(batch);
      }
      send({ type: 'connected', ready, failed });
    },
    close() {
      closing = true;
      for (const ws of sockets) ws.terminate();
    },
  };
}

if (typeof process.send === 'function' && process.argv[2] === '--child') {
  let clients;
  process.on('message', async (msg) => {
    if (msg.type === 'start') {
      clients = runClients(msg, (m) => process.send(m));
      await clients.connect();
    } else if (msg.type === 'stop') {
      clients?.close();
      process.disconnect();
    }
  });
  process.on('disconnect', () => {
    clients?.close();
    process.exit(0);
  });
}

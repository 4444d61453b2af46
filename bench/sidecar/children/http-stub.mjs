// A node:http child for the intercept bench (b). argv[2]:
//   bare   — answers every request 200 {"action":"pass"} once the body is read (the baseline:
//            a bare loopback HTTP round trip with the same response body as an intercept pass);
//   ingest — stands in for the server's POST /v1/sidecar/events so the sidecar's outbox sender
//            drains as in production (answers 200 with the accepted count); refuses the
//            control-channel upgrade with 503 (the sidecar retries with backoff, up to 30 s).
//            It counts events without parsing the body (STUB_PARSE=1 parses it): the real
//            server runs elsewhere, while this stand-in shares the two cores with the sidecar.
// Sends {type:'ready', url} over IPC; {type:'stats'} → {type:'stats', events, posts}.
import http from 'node:http';

const mode = process.argv[2];
const PASS = Buffer.from('{"action":"pass"}');
const passHeaders = { 'content-type': 'application/json', 'content-length': String(PASS.length) };
let events = 0;
const EVENT_START = Buffer.from('{"id":"');
/** Events in a batch body without parsing it: each event object starts with {"id":" (the
 * sidecar writes `id` first; inside a JSON string a quote is escaped, so this cannot match). */
function countEvents(buf) {
  let n = 0;
  for (let i = buf.indexOf(EVENT_START); i !== -1; i = buf.indexOf(EVENT_START, i + 1)) n++;
  return n;
}
let posts = 0;

const server = http.createServer((req, res) => {
  if (mode === 'bare') {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, passHeaders);
      res.end(PASS);
    });
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let n = 0;
    if (req.method === 'POST' && req.url === '/v1/sidecar/events') {
      const received = Buffer.concat(chunks);
      if (process.env.STUB_PARSE === '1') {
        try {
          n = JSON.parse(received.toString()).events?.length ?? 0;
        } catch {}
      } else n = countEvents(received);
      events += n;
      posts++;
      const body = Buffer.from(
        JSON.stringify({ object: 'ingest_result', accepted: n, results: [] }),
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"type":"invalid_request","code":"route_not_found","message":"stub"}}');
  });
});
server.on('upgrade', (_req, socket) => {
  socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send({
    type: 'ready',
    url: `http://127.0.0.1:${server.address().port}`,
    pid: process.pid,
  });
});
process.on('message', (m) => {
  if (m?.type === 'stats') process.send({ type: 'stats', events, posts });
  if (m?.type === 'shutdown') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

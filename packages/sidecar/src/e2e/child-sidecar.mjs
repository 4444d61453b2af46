// The BUILT sidecar (dist/) in a child process, for the e2e kill -9 test. Config comes from the
// environment. It reports on stdout, one line each (written synchronously, so a line the parent
// reads was printed before anything that follows):
//   READY <url>                      listening (the channel starts right after)
//   SNAPSHOT_BEGIN {revision,total}  a snapshot started streaming in
//   CHUNK {n,entries}                snapshot chunk n is staged (committed to blacklist_staging)
//   EVENT {type,data}                a control-channel event (welcome, synced, resync, ...)
// E2E_PAUSE_AFTER_CHUNK=n blocks the process (event loop included) right after chunk n is
// staged, for at most 30 s, so that a kill -9 lands exactly mid-snapshot.
// The child exits when its stdin closes, so it never outlives the test run.
import fs from 'node:fs';
import { loadConfig, startSidecar } from '../../dist/index.js';

const say = (line) => fs.writeSync(1, `${line}\n`);
const pauseAfter = Number(process.env.E2E_PAUSE_AFTER_CHUNK ?? 0);

const sc = await startSidecar(loadConfig(process.env), { connect: false });
const bl = sc.cache;
const begin = bl.beginSnapshot.bind(bl);
bl.beginSnapshot = (revision, total) => {
  begin(revision, total);
  say(`SNAPSHOT_BEGIN ${JSON.stringify({ revision, total })}`);
};
const addChunk = bl.addSnapshotChunk.bind(bl);
let chunks = 0;
bl.addSnapshotChunk = (entries) => {
  addChunk(entries);
  chunks++;
  say(`CHUNK ${JSON.stringify({ n: chunks, entries: entries.length })}`);
  if (chunks === pauseAfter) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
};
for (const type of ['connected', 'welcome', 'synced', 'resync', 'disconnected', 'protocol_error'])
  sc.channel.on(type, (data) => say(`EVENT ${JSON.stringify({ type, data: data ?? null })}`));

say(`READY ${sc.url}`);
sc.channel.start();
sc.outbox.start();

process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => sc.close().then(() => process.exit(0)));

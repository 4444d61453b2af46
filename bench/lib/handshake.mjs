// Shared by the child servers: tell the parent (bench/http.mjs) where we listen.
// Spawned by the bench with an IPC channel, the handshake goes over IPC, so stdout can be
// pointed at /dev/null (access logs) without the parent having to read it. Run by hand, the
// handshake is printed as one JSON line on stdout.
export function sendHandshake(msg) {
  if (typeof process.send === 'function') {
    process.send({ type: 'ready', ...msg });
    // If the bench dies, do not linger as an orphan holding a port.
    process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  } else {
    process.stdout.write(`${JSON.stringify({ type: 'ready', ...msg })}\n`);
  }
}

export function onShutdown(fn) {
  let done = false;
  const handler = async () => {
    if (done) return;
    done = true;
    try {
      await fn();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

// Runs the BUILT sidecar (dist/) in a child process for the kill -9 tests: config from the
// environment, prints "READY <url>" once listening.
import { loadConfig, startSidecar } from '../../dist/index.js';

const sc = await startSidecar(loadConfig(process.env));
process.stdout.write(`READY ${sc.url}\n`);
process.on('SIGTERM', () => sc.close().then(() => process.exit(0)));

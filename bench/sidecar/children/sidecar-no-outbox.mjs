// What-if for (b): the built sidecar (startSidecar from packages/sidecar/dist, config from the
// environment like the CLI) with the outbox write replaced by a no-op and no sender — so the
// intercept minus the outbox costs can be compared with the real one. Not a production mode.
import { importSidecar } from '../lib.mjs';

const { loadConfig, startSidecar } = await importSidecar();
const sc = await startSidecar(loadConfig(process.env), { connect: false });
sc.outbox.append = () => Promise.resolve('sc_bench');
process.on('SIGTERM', () => sc.close().then(() => process.exit(0)));

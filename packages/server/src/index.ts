export { type App, closeServices, createApp, createServices, VERSION } from './app.js';
export { type Config, ConfigError, ENV_DOCS, loadConfig } from './config.js';
export { SecretBox } from './infra/crypto/index.js';
export { type DatabaseHandle, openDatabase } from './infra/db/index.js';
export type { Services } from './infra/services.js';
export { createOperator } from './operators/index.js';
export { type RunningServer, startServer } from './server.js';

export * from './api-keys.js';
export * from './common.js';
export * from './errors.js';
export * from './health.js';
export * from './ids.js';
export * from './members.js';
export * from './scopes.js';
export * from './tenants.js';

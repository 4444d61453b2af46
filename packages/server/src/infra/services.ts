import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { UsageRecorder } from '../api-keys/usage.js';
import type { Config } from '../config.js';
import type { CredentialCache } from './auth/credential-cache.js';
import type { CachedCredential } from './auth/index.js';
import type { SecretBox } from './crypto/index.js';
import type { DatabaseHandle, Db } from './db/index.js';
import type { EventLog } from './events/index.js';
import type { RateLimiter } from './rate-limit/index.js';

/** What the app is built from. Created once in `createServices`, closed once on shutdown. */
export interface Services {
  config: Config;
  database: DatabaseHandle;
  db: Db;
  log: Logger;
  secrets: SecretBox;
  redis: Redis | undefined;
  rateLimiter: RateLimiter;
  /** Resolved API keys and sessions; see {@link CredentialCache} for when it is invalidated. */
  credentials: CredentialCache<CachedCredential>;
  usage: UsageRecorder;
  /** The per-tenant event log and its bus. */
  events: EventLog;
  /** Background work started by the server (webhook worker, sweepers); stopped on close. */
  background: Array<{ stop(): Promise<void> | void }>;
  /** Injectable clock (ms) so expiry can be tested without waiting. */
  now: () => number;
  version: string;
}

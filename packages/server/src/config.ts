import path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) =>
  z.coerce
    .number({ message: 'expected a number' })
    .int('expected a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/**
 * Every environment variable the server reads, with its default. `astrdesk-server --help`
 * prints this table, and the README documents the same list.
 */
export const ENV_DOCS: Record<string, string> = {
  PORT: 'HTTP port (default 8080)',
  HOST: 'Interface to bind (default 0.0.0.0)',
  DATA_DIR:
    'Directory for the SQLite database, the dev master key and objects (default ./.astrdesk-data)',
  DATABASE_URL:
    'postgres://user@host:5432/db for PostgreSQL; unset (or sqlite:PATH) for SQLite in DATA_DIR',
  REDIS_URL:
    'redis://host:6379 — shared rate limits, cache and pub/sub between replicas (optional)',
  ASTRDESK_MASTER_KEY:
    'Base64 32-byte key for secret encryption, or a rotation list "kid1:base64,kid2:base64" (first encrypts). Generated into DATA_DIR when unset (dev only)',
  ASTRDESK_OPERATOR_TOKEN:
    'A static operator token (>= 32 chars) accepted besides tokens made with `operator create`',
  LOG_LEVEL: 'fatal | error | warn | info | debug | trace | silent (default info)',
  BODY_LIMIT_BYTES: 'Largest request body accepted (default 1048576); larger answers 413',
  SESSION_TTL_HOURS: 'Lifetime of a member login session (default 168)',
  API_KEY_RATE_LIMIT_PER_MINUTE:
    'Default per-key rate limit, token bucket (default 600); a key may set its own',
  AUTH_CACHE_TTL_MS:
    'How long a resolved API key or session is reused without a database lookup (default 5000; 0 = off). Revocations take effect at once regardless (replicas are told through Redis)',
  SIGNUP_ENABLED: 'Whether POST /v1/signup is open (default true)',
  SHUTDOWN_TIMEOUT_MS: 'Grace period for in-flight requests on SIGTERM (default 10000)',
  CORS_ORIGINS:
    'Origins allowed to call the API from browsers: * (default) or a comma-separated list',
  LOGIN_ATTEMPTS_PER_MINUTE: 'Login attempts allowed per email per minute before 429 (default 10)',
  WEBHOOK_ALLOW_PRIVATE_TARGETS:
    'Allow webhook URLs on loopback/private addresses (default false; for development and tests)',
  REALTIME_RESUME_WINDOW:
    'How many missed events a reconnecting socket may catch up on before it must resync (default 10000)',
  EVENT_RETENTION_DAYS:
    'How long the event log keeps events (default 7); older resumes get resync_required',
};

export const ConfigSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATA_DIR: z.string().min(1).default('./.astrdesk-data'),
  DATABASE_URL: z
    .string()
    .refine((v) => /^(postgres(ql)?:\/\/|sqlite:)/.test(v), {
      message: 'must start with postgres://, postgresql:// or sqlite:',
    })
    .optional(),
  REDIS_URL: z
    .string()
    .refine((v) => /^rediss?:\/\//.test(v), { message: 'must start with redis:// or rediss://' })
    .optional(),
  ASTRDESK_MASTER_KEY: z.string().min(1).optional(),
  ASTRDESK_OPERATOR_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT_BYTES: int(1024, 100 * 1024 * 1024).default(1024 * 1024),
  SESSION_TTL_HOURS: int(1, 24 * 365).default(168),
  API_KEY_RATE_LIMIT_PER_MINUTE: int(1, 10_000_000).default(600),
  AUTH_CACHE_TTL_MS: int(0, 600_000).default(5_000),
  SIGNUP_ENABLED: bool.default(true),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(10_000),
  CORS_ORIGINS: z.string().min(1).default('*'),
  LOGIN_ATTEMPTS_PER_MINUTE: int(1, 100_000).default(10),
  WEBHOOK_ALLOW_PRIVATE_TARGETS: bool.default(false),
  REALTIME_RESUME_WINDOW: int(1, 10_000_000).default(10_000),
  EVENT_RETENTION_DAYS: int(1, 3650).default(7),
  WEBHOOK_LOG_RETENTION_DAYS: int(1, 3650).default(30),
  INGEST_DEDUP_DAYS: int(1, 3650).default(30),
  BLACKLIST_CHANGELOG_RETENTION_HOURS: int(1, 24 * 3650).default(168),
  BLACKLIST_CHANGELOG_HARD_LIMIT_HOURS: int(1, 24 * 3650).default(720),
});

export type Config = z.infer<typeof ConfigSchema> & {
  /** Resolved database target. */
  database: { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; schema?: string };
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment; throws a {@link ConfigError} listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = ConfigSchema.safeParse(picked);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0] ?? '?');
        return `${key}: ${i.message} (got ${JSON.stringify(picked[key] ?? null)})`;
      }),
    );
  }
  const c = parsed.data;
  const url = c.DATABASE_URL;
  const database: Config['database'] = url?.startsWith('postgres')
    ? { kind: 'postgres', url }
    : {
        kind: 'sqlite',
        file: url ? url.slice('sqlite:'.length) : path.join(c.DATA_DIR, 'astrdesk.db'),
      };
  return { ...c, database };
}

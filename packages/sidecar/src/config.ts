import path from 'node:path';
import { TOKEN_PREFIXES } from '@astrdesk/protocol';
import { z } from 'zod';

const int = (min: number, max: number) =>
  z.coerce
    .number({ message: 'expected a number' })
    .int('expected a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/**
 * Every environment variable the sidecar reads, with its default. `astrdesk-sidecar --help`
 * prints this table, and the README documents the same list.
 */
export const ENV_DOCS: Record<string, string> = {
  ASTRDESK_SERVER_URL:
    'Base URL of the AstrDesk server, e.g. https://desk.example.com (required). The control channel is <url>/v1/sidecar/connect, events go to <url>/v1/sidecar/events',
  ASTRDESK_INSTANCE_TOKEN:
    'The instance token (adi_...) the server issued for this AstrBot instance (required)',
  SIDECAR_API_TOKEN:
    'Bearer token the AstrBot plugin sends on /astrbot-api/v1/* (required, >= 16 chars; the same value goes into the plugin config)',
  SIDECAR_HOST: 'Interface to bind (default 127.0.0.1: only the AstrBot container can reach it)',
  SIDECAR_PORT: 'HTTP port (default 6190; 0 picks a free port)',
  SIDECAR_DATA_DIR:
    'Directory for blacklist.db (the cached blacklist) and outbox.db (default ./.astrdesk-sidecar); one sidecar per directory',
  LOG_LEVEL: 'fatal | error | warn | info | debug | trace | silent (default info)',
  SIDECAR_OUTBOX_SYNC:
    'normal (default): an outbox row survives kill -9 and restarts, a power loss may lose the last moments; full: fsync every commit (also survives power loss; each intercept waits for the disk)',
  SIDECAR_OUTBOX_WAL_FLUSH_MS:
    'With SIDECAR_OUTBOX_SYNC=normal: flush the outbox WAL to disk in the background this many ms after a commit (default 10; 0 = off, the checkpoint then syncs it all at once, on the thread that answers intercepts)',
  SIDECAR_OUTBOX_BATCH_SIZE: 'Events per POST /v1/sidecar/events (default 500, at most 500)',
  SIDECAR_OUTBOX_FLUSH_MS:
    'Delay after a new outbox row before sending, to gather a batch (default 50)',
  SIDECAR_OUTBOX_MIN_INTERVAL_MS:
    'Least time between two sends of a batch that is not full (default 250); full batches go at once',
  SIDECAR_OUTBOX_INTERVAL_MS: 'How often the outbox is checked anyway (default 1000)',
  SIDECAR_OUTBOX_RETRY_MIN_MS: 'First retry delay after a failed send (default 500)',
  SIDECAR_OUTBOX_RETRY_MAX_MS:
    'Longest delay between sends while the server fails or is down (default 60000)',
  SIDECAR_RECONNECT_MIN_MS: 'First control-channel reconnect delay (default 500)',
  SIDECAR_RECONNECT_MAX_MS: 'Longest control-channel reconnect delay (default 30000)',
  SIDECAR_UNAUTHORIZED_RETRY_MS:
    'Reconnect delay after the server rejects the instance token (close 4001 / HTTP 401) (default 60000)',
  SIDECAR_HEARTBEAT_MS:
    'WebSocket ping interval; a connection with no answer for two intervals is dropped (default 30000)',
  SIDECAR_RESYNC_TIMEOUT_MS:
    'How long to wait for a snapshot after asking for a resync before reconnecting (default 30000)',
  SIDECAR_REQUEST_TIMEOUT_MS: 'Timeout of one POST to the server (default 15000)',
  SIDECAR_BODY_LIMIT_BYTES: 'Largest request body accepted on /astrbot-api (default 4194304)',
  SIDECAR_SHUTDOWN_TIMEOUT_MS: 'Grace period for in-flight requests on SIGTERM (default 5000)',
};

export const ConfigSchema = z.object({
  ASTRDESK_SERVER_URL: z
    .string({
      message: 'is required (the AstrDesk server base URL, e.g. https://desk.example.com)',
    })
    .refine((v) => /^https?:\/\/[^/\s]+/i.test(v) && URL.canParse(v), {
      message: 'must be an http:// or https:// URL',
    }),
  ASTRDESK_INSTANCE_TOKEN: z
    .string({ message: `is required (the instance token, ${TOKEN_PREFIXES.instance}...)` })
    .refine((v) => v.startsWith(TOKEN_PREFIXES.instance) && v.length >= 20 && !/\s/.test(v), {
      message: `must be an instance token (${TOKEN_PREFIXES.instance}...) as the server issued it`,
    }),
  SIDECAR_API_TOKEN: z
    .string({ message: 'is required (the bearer token the AstrBot plugin is configured with)' })
    .min(16, 'must be at least 16 characters')
    .max(512, 'must be at most 512 characters')
    .refine((v) => !/\s/.test(v), { message: 'must not contain whitespace' }),
  SIDECAR_HOST: z.string().min(1).default('127.0.0.1'),
  SIDECAR_PORT: int(0, 65535).default(6190),
  SIDECAR_DATA_DIR: z.string().min(1).default('./.astrdesk-sidecar'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  SIDECAR_OUTBOX_SYNC: z
    .enum(['normal', 'full'], { message: 'expected normal or full' })
    .default('normal'),
  SIDECAR_OUTBOX_WAL_FLUSH_MS: int(0, 10_000).default(10),
  SIDECAR_OUTBOX_BATCH_SIZE: int(1, 500).default(500),
  SIDECAR_OUTBOX_FLUSH_MS: int(0, 60_000).default(50),
  SIDECAR_OUTBOX_MIN_INTERVAL_MS: int(0, 60_000).default(250),
  SIDECAR_OUTBOX_INTERVAL_MS: int(10, 3_600_000).default(1000),
  SIDECAR_OUTBOX_RETRY_MIN_MS: int(1, 600_000).default(500),
  SIDECAR_OUTBOX_RETRY_MAX_MS: int(1, 3_600_000).default(60_000),
  SIDECAR_RECONNECT_MIN_MS: int(1, 600_000).default(500),
  SIDECAR_RECONNECT_MAX_MS: int(1, 3_600_000).default(30_000),
  SIDECAR_UNAUTHORIZED_RETRY_MS: int(1, 3_600_000).default(60_000),
  SIDECAR_HEARTBEAT_MS: int(100, 3_600_000).default(30_000),
  SIDECAR_RESYNC_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
  SIDECAR_REQUEST_TIMEOUT_MS: int(100, 600_000).default(15_000),
  SIDECAR_BODY_LIMIT_BYTES: int(1024, 100 * 1024 * 1024).default(4 * 1024 * 1024),
  SIDECAR_SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(5000),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const SECRET_KEYS = new Set(['ASTRDESK_INSTANCE_TOKEN', 'SIDECAR_API_TOKEN']);

/** Validates the environment; throws a {@link ConfigError} listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = ConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const i of parsed.error.issues) {
      const key = String(i.path[0] ?? '?');
      if (seen.has(key)) continue;
      seen.add(key);
      const raw = picked[key];
      // Never echo a secret back, only whether it was given.
      const got =
        raw === undefined
          ? 'not set'
          : SECRET_KEYS.has(key)
            ? `a value of ${raw.length} characters`
            : JSON.stringify(raw);
      problems.push(`${key}: ${i.message} (got ${got})`);
    }
    throw new ConfigError(problems);
  }
  const c = parsed.data;
  const extra: string[] = [];
  if (c.SIDECAR_RECONNECT_MIN_MS > c.SIDECAR_RECONNECT_MAX_MS)
    extra.push(
      `SIDECAR_RECONNECT_MIN_MS: must not exceed SIDECAR_RECONNECT_MAX_MS (${c.SIDECAR_RECONNECT_MAX_MS})`,
    );
  if (c.SIDECAR_OUTBOX_RETRY_MIN_MS > c.SIDECAR_OUTBOX_RETRY_MAX_MS)
    extra.push(
      `SIDECAR_OUTBOX_RETRY_MIN_MS: must not exceed SIDECAR_OUTBOX_RETRY_MAX_MS (${c.SIDECAR_OUTBOX_RETRY_MAX_MS})`,
    );
  if (extra.length > 0) throw new ConfigError(extra);
  return c;
}

/** Paths of the two SQLite files in the data directory. */
export function dataFiles(config: Pick<Config, 'SIDECAR_DATA_DIR'>): {
  blacklist: string;
  outbox: string;
} {
  return {
    blacklist: path.join(config.SIDECAR_DATA_DIR, 'blacklist.db'),
    outbox: path.join(config.SIDECAR_DATA_DIR, 'outbox.db'),
  };
}

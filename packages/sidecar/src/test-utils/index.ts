import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { type Config, loadConfig } from '../config.js';

export { entry, FakeControlServer } from './fake-control-server.js';
export { FakeIngestServer } from './fake-ingest-server.js';

export const API_TOKEN = 'test-api-token-0123456789';
export const INSTANCE_TOKEN = 'adi_test_instance_token_0123456789';

/** A fresh temporary data directory, removed by the returned cleanup. */
export function tempDir(prefix = 'astrdesk-sidecar-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A config for tests: port 0, short timers, the given server URL and data dir. */
export function testConfig(
  serverUrl: string,
  dataDir: string,
  env: Record<string, string> = {},
): Config {
  return loadConfig({
    ASTRDESK_SERVER_URL: serverUrl,
    ASTRDESK_INSTANCE_TOKEN: INSTANCE_TOKEN,
    SIDECAR_API_TOKEN: API_TOKEN,
    SIDECAR_PORT: '0',
    SIDECAR_DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SIDECAR_OUTBOX_FLUSH_MS: '5',
    SIDECAR_OUTBOX_INTERVAL_MS: '50',
    SIDECAR_OUTBOX_RETRY_MIN_MS: '10',
    SIDECAR_OUTBOX_RETRY_MAX_MS: '100',
    SIDECAR_RECONNECT_MIN_MS: '20',
    SIDECAR_RECONNECT_MAX_MS: '200',
    SIDECAR_UNAUTHORIZED_RETRY_MS: '300',
    SIDECAR_REQUEST_TIMEOUT_MS: '2000',
    ...env,
  });
}

export const testLogger = () =>
  pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent', base: { service: 'sidecar-test' } });

/** Polls until `fn` returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 10, what = 'condition' } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A message as the plugin would send it to the intercept. */
export function interceptBody(n: number | string, over: Record<string, unknown> = {}) {
  return {
    platform: 'qq',
    platform_instance_id: 'aiocqhttp-1',
    user_id: `u${n}`,
    nickname: `user ${n}`,
    session: `aiocqhttp:FriendMessage:u${n}`,
    message_id: `m-${n}-${Math.random().toString(36).slice(2, 8)}`,
    kind: 'text',
    text: `hello ${n}`,
    sent_at: '2026-01-01T10:00:00.000Z',
    ...over,
  };
}

export async function post(
  url: string,
  body: unknown,
  token: string | null = API_TOKEN,
): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

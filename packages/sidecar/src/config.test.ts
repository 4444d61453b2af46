import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigSchema, dataFiles, ENV_DOCS, loadConfig } from './config.js';

const required = {
  ASTRDESK_SERVER_URL: 'https://desk.example.com',
  ASTRDESK_INSTANCE_TOKEN: 'adi_abcdefghijklmnopqrstuvwxyz',
  SIDECAR_API_TOKEN: 'local-plugin-token-1234',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has working defaults', () => {
    const c = loadConfig(required);
    expect(c).toMatchObject({
      SIDECAR_HOST: '127.0.0.1',
      SIDECAR_PORT: 6190,
      SIDECAR_DATA_DIR: './.astrdesk-sidecar',
      LOG_LEVEL: 'info',
      SIDECAR_OUTBOX_SYNC: 'normal',
      SIDECAR_OUTBOX_BATCH_SIZE: 500,
    });
    expect(dataFiles(c)).toEqual({
      blacklist: '.astrdesk-sidecar/blacklist.db',
      outbox: '.astrdesk-sidecar/outbox.db',
    });
  });

  it('names each missing required variable', () => {
    const p = problems({});
    expect(p).toHaveLength(3);
    expect(p[0]).toMatch(/^ASTRDESK_SERVER_URL: is required .*\(got not set\)$/);
    expect(p[1]).toMatch(/^ASTRDESK_INSTANCE_TOKEN: is required/);
    expect(p[2]).toMatch(/^SIDECAR_API_TOKEN: is required/);
  });

  it('lists every bad value with what was given, never echoing secrets', () => {
    const p = problems({
      ASTRDESK_SERVER_URL: 'desk.example.com',
      ASTRDESK_INSTANCE_TOKEN: 'adk_thisisanapikeynotaninstancetoken',
      SIDECAR_API_TOKEN: 'short',
      SIDECAR_PORT: '70000',
      LOG_LEVEL: 'loud',
      SIDECAR_OUTBOX_SYNC: 'sometimes',
      SIDECAR_OUTBOX_BATCH_SIZE: '501',
    });
    expect(p).toEqual([
      'ASTRDESK_SERVER_URL: must be an http:// or https:// URL (got "desk.example.com")',
      'ASTRDESK_INSTANCE_TOKEN: must be an instance token (adi_...) as the server issued it (got a value of 36 characters)',
      'SIDECAR_API_TOKEN: must be at least 16 characters (got a value of 5 characters)',
      'SIDECAR_PORT: must be at most 65535 (got "70000")',
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'SIDECAR_OUTBOX_SYNC: expected normal or full (got "sometimes")',
      'SIDECAR_OUTBOX_BATCH_SIZE: must be at most 500 (got "501")',
    ]);
    expect(p.join('\n')).not.toContain('adk_this');
  });

  it('treats empty strings as unset and checks min/max pairs', () => {
    expect(loadConfig({ ...required, SIDECAR_PORT: '' }).SIDECAR_PORT).toBe(6190);
    expect(
      problems({ ...required, SIDECAR_RECONNECT_MIN_MS: '5000', SIDECAR_RECONNECT_MAX_MS: '1000' }),
    ).toEqual(['SIDECAR_RECONNECT_MIN_MS: must not exceed SIDECAR_RECONNECT_MAX_MS (1000)']);
  });

  it('documents every variable it reads', () => {
    expect(Object.keys(ENV_DOCS).sort()).toEqual(Object.keys(ConfigSchema.shape).sort());
  });
});

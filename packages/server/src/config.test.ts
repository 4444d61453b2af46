import { describe, expect, it } from 'vitest';
import { ConfigError, ENV_DOCS, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has working defaults: SQLite in DATA_DIR', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 8080,
      BODY_LIMIT_BYTES: 1024 * 1024,
      SIGNUP_ENABLED: true,
      LOG_LEVEL: 'info',
    });
    expect(c.database).toEqual({ kind: 'sqlite', file: '.astrdesk-data/astrdesk.db' });
  });

  it('switches to PostgreSQL on a postgres:// DATABASE_URL', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u@h:5432/db' });
    expect(c.database).toEqual({ kind: 'postgres', url: 'postgres://u@h:5432/db' });
    expect(loadConfig({ DATABASE_URL: 'sqlite:/tmp/x.db' }).database).toEqual({
      kind: 'sqlite',
      file: '/tmp/x.db',
    });
  });

  it('lists every bad variable with what was given', () => {
    let err: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        REDIS_URL: 'http://r',
        SIGNUP_ENABLED: 'maybe',
        LOG_LEVEL: 'loud',
        ASTRDESK_OPERATOR_TOKEN: 'short',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(6);
    expect(problems.find((p) => p.startsWith('PORT:'))).toMatch(/expected a number.*"eighty"/);
    expect(problems.find((p) => p.startsWith('DATABASE_URL:'))).toMatch(/postgres:\/\//);
    expect(problems.find((p) => p.startsWith('ASTRDESK_OPERATOR_TOKEN:'))).toMatch(/32 characters/);
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' }).PORT).toBe(8080);
  });

  it('documents every variable it reads', () => {
    for (const key of [
      'PORT',
      'HOST',
      'DATA_DIR',
      'DATABASE_URL',
      'REDIS_URL',
      'ASTRDESK_MASTER_KEY',
      'ASTRDESK_OPERATOR_TOKEN',
      'LOG_LEVEL',
      'BODY_LIMIT_BYTES',
    ]) {
      expect(ENV_DOCS[key], key).toBeTruthy();
    }
  });
});

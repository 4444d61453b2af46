/** The built `astrdesk-server` bin, run as a user would (turbo builds it before tests). */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_DB } from './test-utils/index.js';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'astrdesk-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, DATA_DIR: dir, DATABASE_URL: '', REDIS_URL: '', LOG_LEVEL: 'warn' };

describe.skipIf(TEST_DB !== 'sqlite')('astrdesk-server bin (built by turbo before tests)', () => {
  it('--help lists commands and every environment variable', () => {
    const r = spawnSync(process.execPath, [bin, '--help'], { env, encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const s of [
      'migrate',
      'operator create',
      'PORT',
      'DATABASE_URL',
      'REDIS_URL',
      'ASTRDESK_MASTER_KEY',
    ])
      expect(r.stdout).toContain(s);
  });

  it('exits 78 with one line per bad variable', () => {
    const r = spawnSync(process.execPath, [bin, 'migrate'], {
      env: { ...env, PORT: 'x', BODY_LIMIT_BYTES: '-1' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/PORT: expected a number/);
    expect(r.stderr).toMatch(/BODY_LIMIT_BYTES: must be at least/);
  });

  it('migrate, then operator create prints a token once', () => {
    const m = spawnSync(process.execPath, [bin, 'migrate'], { env, encoding: 'utf8' });
    expect(m.status).toBe(0);
    expect(m.stdout).toMatch(/applied: 0001_foundation|up to date/);
    expect(spawnSync(process.execPath, [bin, 'migrate'], { env, encoding: 'utf8' }).stdout).toMatch(
      /up to date/,
    );
    const op = spawnSync(process.execPath, [bin, 'operator', 'create', '--name', 'ops'], {
      env,
      encoding: 'utf8',
    });
    expect(op.status).toBe(0);
    expect(op.stdout).toMatch(/ado_[A-Za-z0-9_-]{43}/);
  });

  it('serves, answers /readyz, and shuts down cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin], {
      env: { ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no listen line: ${out}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /"url":"(http:[^"]+)"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});

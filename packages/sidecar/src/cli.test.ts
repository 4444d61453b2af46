/** The built `astrdesk-sidecar` bin, run as a user would (skipped when dist/ is missing). */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV_DOCS } from './config.js';
import { API_TOKEN, INSTANCE_TOKEN, tempDir, waitFor } from './test-utils/index.js';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
const { dir, cleanup } = tempDir('astrdesk-sidecar-cli-');
afterAll(cleanup);
const env = {
  ...process.env,
  ASTRDESK_SERVER_URL: 'http://127.0.0.1:9',
  ASTRDESK_INSTANCE_TOKEN: INSTANCE_TOKEN,
  SIDECAR_API_TOKEN: API_TOKEN,
  SIDECAR_DATA_DIR: dir,
  SIDECAR_PORT: '0',
  LOG_LEVEL: 'info',
};

describe.skipIf(!fs.existsSync(bin))('astrdesk-sidecar bin (built dist/)', () => {
  it('--help lists the endpoints and every environment variable', () => {
    const r = spawnSync(process.execPath, [bin, '--help'], { env, encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const k of Object.keys(ENV_DOCS)) expect(r.stdout).toContain(k);
    expect(r.stdout).toContain('/astrbot-api/v1/messages/intercept');
  });

  it('exits 78 with one line per bad variable', () => {
    const r = spawnSync(process.execPath, [bin], {
      env: { ...env, SIDECAR_PORT: 'x', SIDECAR_API_TOKEN: '', LOG_LEVEL: 'loud' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(78);
    expect(r.stderr).toMatch(/SIDECAR_PORT: expected a number \(got "x"\)/);
    expect(r.stderr).toMatch(/SIDECAR_API_TOKEN: is required/);
    expect(r.stderr).toMatch(/LOG_LEVEL: expected one of/);
  });

  it('serves, logs JSON lines, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(out)?.[1], { what: 'listening' });
    const res = await fetch(`${url}/livez`);
    expect(res.status).toBe(200);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const first = JSON.parse(out.split('\n')[0]!);
    expect(first).toMatchObject({ level: 30, service: 'astrdesk-sidecar' });
  });
});

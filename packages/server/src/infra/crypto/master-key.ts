import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { SecretBox } from './index.js';

/**
 * The master key from `ASTRDESK_MASTER_KEY`, or — for development only — one generated once
 * into `DATA_DIR/master.key` (mode 0600) with a warning, so a fresh checkout just runs.
 */
export function loadSecretBox(opts: {
  masterKey?: string | undefined;
  dataDir: string;
  log: Logger;
}): SecretBox {
  if (opts.masterKey) return SecretBox.fromEnv(opts.masterKey);
  const file = path.join(opts.dataDir, 'master.key');
  let value: string;
  if (fs.existsSync(file)) {
    value = fs.readFileSync(file, 'utf8').trim();
  } else {
    fs.mkdirSync(opts.dataDir, { recursive: true });
    value = `dev:${randomBytes(32).toString('base64')}`;
    fs.writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  }
  opts.log.warn(
    { file },
    'ASTRDESK_MASTER_KEY is not set: using a development master key from DATA_DIR. Set ASTRDESK_MASTER_KEY in production.',
  );
  return SecretBox.fromEnv(value);
}

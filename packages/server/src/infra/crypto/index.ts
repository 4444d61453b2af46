import * as crypto from 'node:crypto';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  scrypt as scryptCb,
  timingSafeEqual,
} from 'node:crypto';
import { ID_PREFIXES, type IdKind, monotonicId } from '@astrdesk/protocol';

/**
 * A prefixed, time-ordered id of the given kind (see {@link monotonicId}), so ids sort by
 * creation and keyset pagination can use them directly.
 *
 * @example newId('tenant') // 'tnt_01JD3Y0M5Q8W2K7T4F9XG1B6CE'
 */
export function newId(kind: IdKind, now = Date.now()): string {
  return monotonicId(ID_PREFIXES[kind], now);
}

/** A secret bearer token: `prefix` + 43 chars of base64url (256 bits). */
export function newToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

export function sha256Hex(input: string): string {
  return oneShotHash
    ? oneShotHash('sha256', input, 'hex')
    : createHash('sha256').update(input).digest('hex');
}

// `crypto.hash` (Node 20.12+) hashes without building a Hash object: a third of the cost, and
// every authenticated request hashes its token.
const oneShotHash = (
  crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }
).hash;

/** Constant-time string comparison (different lengths compare unequal without early exit). */
export function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  if (ba.length !== bb.length) {
    timingSafeEqual(ba, ba);
    return false;
  }
  return timingSafeEqual(ba, bb);
}

// --- passwords --------------------------------------------------------------------------

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

function scrypt(password: string, salt: Buffer, N: number, r: number, p: number, keylen: number) {
  return new Promise<Buffer>((resolve, reject) => {
    scryptCb(
      password.normalize('NFKC'),
      salt,
      keylen,
      { N, r, p, maxmem: 64 * 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** scrypt hash in a self-describing format: `scrypt$N$r$p$salt$hash` (base64url parts). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const got = await scrypt(
    password,
    Buffer.from(salt, 'base64url'),
    Number(n),
    Number(r),
    Number(p),
    expected.length,
  );
  return timingSafeEqual(got, expected);
}

/** A hash of nothing in particular, verified when a login names an unknown email, so both cases cost the same. */
export const DUMMY_PASSWORD_HASH =
  'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

// --- secrets ----------------------------------------------------------------------------

/**
 * AES-256-GCM envelope encryption for stored secrets (IM credentials, LLM API keys).
 *
 * Each value gets its own random data key; the data key is wrapped with the master key
 * named by `kid`, so master keys can rotate: new values use the first key, old values still
 * open with the key id written into them. `context` (e.g. the tenant id) is bound as
 * additional authenticated data, so a ciphertext copied to another tenant does not open.
 *
 * Format: `v1.<kid>.<wrapIv>.<wrappedKey+tag>.<iv>.<ciphertext+tag>` (base64url parts).
 */
export class SecretBox {
  readonly #keys: Map<string, Buffer>;
  readonly #activeKid: string;

  constructor(keys: Array<{ kid: string; key: Buffer }>) {
    if (keys.length === 0) throw new Error('SecretBox needs at least one master key');
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`master key ${k.kid} must be 32 bytes`);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(k.kid))
        throw new Error(`master key id ${k.kid} must be [A-Za-z0-9_-]{1,32}`);
    }
    this.#keys = new Map(keys.map((k) => [k.kid, k.key]));
    this.#activeKid = keys[0]!.kid;
  }

  get activeKeyId(): string {
    return this.#activeKid;
  }

  /**
   * Parses `ASTRDESK_MASTER_KEY`: one base64 key (kid `k1`), or `kid:base64,kid:base64`.
   * @example SecretBox.fromEnv('k2:' + newKey + ',k1:' + oldKey)
   */
  static fromEnv(value: string): SecretBox {
    const parts = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    return new SecretBox(
      parts.map((part, i) => {
        const idx = part.indexOf(':');
        const kid = idx > 0 ? part.slice(0, idx) : `k${i + 1}`;
        const key = Buffer.from(idx > 0 ? part.slice(idx + 1) : part, 'base64');
        return { kid, key };
      }),
    );
  }

  encrypt(plaintext: string, context = ''): string {
    const master = this.#keys.get(this.#activeKid)!;
    const dek = randomBytes(32);
    const wrapIv = randomBytes(12);
    const wrap = createCipheriv('aes-256-gcm', master, wrapIv);
    wrap.setAAD(Buffer.from(`astrdesk:dek:${this.#activeKid}`));
    const wrapped = Buffer.concat([wrap.update(dek), wrap.final(), wrap.getAuthTag()]);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', dek, iv);
    cipher.setAAD(Buffer.from(`astrdesk:data:${context}`));
    const ct = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    const b = (x: Buffer) => x.toString('base64url');
    return ['v1', this.#activeKid, b(wrapIv), b(wrapped), b(iv), b(ct)].join('.');
  }

  decrypt(envelope: string, context = ''): string {
    const [v, kid, wrapIvB, wrappedB, ivB, ctB] = envelope.split('.');
    if (v !== 'v1' || !kid || !wrapIvB || !wrappedB || !ivB || !ctB)
      throw new Error('not a v1 secret envelope');
    const master = this.#keys.get(kid);
    if (!master) throw new Error(`unknown master key id ${kid}`);
    const open = (key: Buffer, ivB64: string, dataB64: string, aad: string) => {
      const data = Buffer.from(dataB64, 'base64url');
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(ivB64, 'base64url'));
      d.setAAD(Buffer.from(aad));
      d.setAuthTag(data.subarray(data.length - 16));
      return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
    };
    const dek = open(master, wrapIvB, wrappedB, `astrdesk:dek:${kid}`);
    return open(dek, ivB, ctB, `astrdesk:data:${context}`).toString('utf8');
  }

  /** Re-encrypts under the active key (for rotation jobs); a no-op when already current. */
  rotate(envelope: string, context = ''): string {
    if (envelope.split('.')[1] === this.#activeKid) return envelope;
    return this.encrypt(this.decrypt(envelope, context), context);
  }
}

/** Shows a secret as a reference plus its last 4 characters, the only form responses carry. */
export function maskSecret(secret: string): string {
  return `••••${secret.slice(-4)}`;
}

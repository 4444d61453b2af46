import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  hashPassword,
  newId,
  newToken,
  SecretBox,
  safeEqual,
  sha256Hex,
  verifyPassword,
} from './index.js';

const key = (b: number) => Buffer.alloc(32, b);

describe('newId', () => {
  it('is prefixed and sorts by time', () => {
    const a = newId('tenant', 1_700_000_000_000);
    const b = newId('tenant', 1_700_000_000_001);
    expect(a).toMatch(/^tnt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(a < b).toBe(true);
  });
});

describe('tokens and comparison', () => {
  it('makes distinct prefixed tokens', () => {
    const t = newToken('adk_');
    expect(t).toMatch(/^adk_[A-Za-z0-9_-]{43}$/);
    expect(t).not.toBe(newToken('adk_'));
  });
  it('compares in constant time and handles different lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('passwords', () => {
  it('verifies the right password and rejects a wrong one', async () => {
    const h = await hashPassword('correct-horse-battery');
    expect(h.startsWith('scrypt$')).toBe(true);
    expect(await verifyPassword('correct-horse-battery', h)).toBe(true);
    expect(await verifyPassword('correct-horse-batterx', h)).toBe(false);
    expect(await verifyPassword('x', 'garbage')).toBe(false);
  });
});

describe('SecretBox', () => {
  it('round-trips and never contains the plaintext', () => {
    const box = new SecretBox([{ kid: 'k1', key: key(1) }]);
    const ct = box.encrypt('sk-live-123456', 'tnt_a');
    expect(ct).not.toContain('sk-live');
    expect(ct.split('.')[1]).toBe('k1');
    expect(box.decrypt(ct, 'tnt_a')).toBe('sk-live-123456');
  });
  it('refuses a ciphertext moved to another context (tenant)', () => {
    const box = new SecretBox([{ kid: 'k1', key: key(1) }]);
    const ct = box.encrypt('secret', 'tnt_a');
    expect(() => box.decrypt(ct, 'tnt_b')).toThrow();
  });
  it('detects tampering', () => {
    const box = new SecretBox([{ kid: 'k1', key: key(1) }]);
    const parts = box.encrypt('secret').split('.');
    const ct = Buffer.from(parts[5]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    parts[5] = ct.toString('base64url');
    expect(() => box.decrypt(parts.join('.'))).toThrow();
  });
  it('rotates: old values open after a new key is added, and re-encrypt under it', () => {
    const old = new SecretBox([{ kid: 'k1', key: key(1) }]);
    const ct = old.encrypt('v');
    const rotated = SecretBox.fromEnv(
      `k2:${key(2).toString('base64')},k1:${key(1).toString('base64')}`,
    );
    expect(rotated.decrypt(ct)).toBe('v');
    const re = rotated.rotate(ct);
    expect(re.split('.')[1]).toBe('k2');
    expect(rotated.decrypt(re)).toBe('v');
    expect(() => old.decrypt(re)).toThrow(/unknown master key/);
  });
  it('rejects short keys', () => {
    expect(() => new SecretBox([{ kid: 'k1', key: Buffer.alloc(16) }])).toThrow(/32 bytes/);
  });
});

describe('newId monotonicity', () => {
  it('increases within one millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newId('member', 1_600_000_000_000));
    const suffixes = ids.map((id) => id.slice(4));
    expect([...suffixes].sort()).toEqual(suffixes);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 test vector and hashes UTF-8', () => {
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(sha256Hex('退款')).toBe(createHash('sha256').update('退款', 'utf8').digest('hex'));
  });
});

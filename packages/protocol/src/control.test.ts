import { describe, expect, it } from 'vitest';
import {
  blacklistChecksum,
  SERVER_FRAME_TYPES,
  SIDECAR_FRAME_TYPES,
  unknownControlFrameType,
} from './control.js';

// The definition, written plainly with BigInt: the fast version must agree with it.
function reference(
  entries: Array<{ platform: string; platform_user_id: string; expires_at: number | null }>,
): string {
  let acc = 0n;
  for (const e of entries) {
    const s = `${e.platform}\0${e.platform_user_id}\0${e.expires_at ?? ''}`;
    let h = 0xcbf29ce484222325n;
    for (let i = 0; i < s.length; i++) {
      h ^= BigInt(s.charCodeAt(i));
      h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    }
    acc ^= h;
  }
  return acc.toString(16).padStart(16, '0');
}

describe('blacklistChecksum', () => {
  it('equals the BigInt definition, including non-ASCII ids', () => {
    const entries = Array.from({ length: 500 }, (_, i) => ({
      platform: ['qq', 'wecom', 'telegram'][i % 3]!,
      platform_user_id: i % 7 === 0 ? `用户${i}🙂` : `user-${i * 7919}`,
      expires_at: i % 5 === 0 ? 1_800_000_000_000 + i : null,
    }));
    expect(blacklistChecksum(entries)).toBe(reference(entries));
    expect(blacklistChecksum([])).toBe('0000000000000000');
  });

  it('does not depend on order and changes with any entry', () => {
    const a = { platform: 'qq', platform_user_id: '1', expires_at: null };
    const b = { platform: 'qq', platform_user_id: '2', expires_at: 5 };
    expect(blacklistChecksum([a, b])).toBe(blacklistChecksum([b, a]));
    expect(blacklistChecksum([a, b])).not.toBe(blacklistChecksum([a, { ...b, expires_at: 6 }]));
  });
});

describe('unknownControlFrameType', () => {
  it('names a well-formed current-version frame of a type the receiver does not know', () => {
    expect(
      unknownControlFrameType({ v: 1, type: 'capabilities', list: [] }, SIDECAR_FRAME_TYPES),
    ).toBe('capabilities');
    expect(unknownControlFrameType({ v: 1, type: 'delivery.push' }, SERVER_FRAME_TYPES)).toBe(
      'delivery.push',
    );
  });

  it('is undefined for known types, other versions and malformed envelopes (protocol errors)', () => {
    for (const raw of [
      { v: 1, type: 'ack' }, // known (even if malformed: the schema reports it)
      { v: 1, type: 'delta' },
      { v: 2, type: 'capabilities' },
      { v: 1, type: 'Not A Type!' },
      { v: 1, type: 7 },
      { v: 1 },
      [{ v: 1, type: 'x' }],
      'capabilities',
      null,
    ])
      expect(
        unknownControlFrameType(raw, [...SIDECAR_FRAME_TYPES, ...SERVER_FRAME_TYPES]),
        JSON.stringify(raw),
      ).toBeUndefined();
    expect(SIDECAR_FRAME_TYPES).toEqual(['hello', 'ack', 'resync', 'pong']);
    expect(SERVER_FRAME_TYPES).toContain('snapshot_chunk');
  });
});

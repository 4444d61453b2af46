import { describe, expect, it } from 'vitest';
import {
  RETRY_BASE_MS,
  RETRY_JITTER,
  RETRY_MAX_STEP_MS,
  RETRY_WINDOW_MS,
  retryDelay,
  subscribes,
} from './worker.js';

describe('retry schedule', () => {
  it('doubles from 30 s and caps each step at 1 h', () => {
    const none = () => 0;
    expect([1, 2, 3, 4, 5].map((n) => retryDelay(n, none))).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000,
    ]);
    expect(retryDelay(8, none)).toBe(RETRY_MAX_STEP_MS);
    expect(retryDelay(500, none)).toBe(RETRY_MAX_STEP_MS);
    expect(retryDelay(0, none)).toBe(RETRY_BASE_MS);
  });

  it('jitters downwards only, by at most RETRY_JITTER', () => {
    expect(retryDelay(1, () => 1)).toBe(RETRY_BASE_MS * (1 - RETRY_JITTER));
    for (let n = 1; n < 40; n++) {
      const d = retryDelay(n);
      const step = Math.min(RETRY_BASE_MS * 2 ** (n - 1), RETRY_MAX_STEP_MS);
      expect(d).toBeGreaterThanOrEqual(step * (1 - RETRY_JITTER) - 1);
      expect(d).toBeLessThanOrEqual(step);
    }
  });

  it('makes roughly 30 attempts over the 24 h window', () => {
    let elapsed = 0;
    let attempts = 1;
    while (elapsed < RETRY_WINDOW_MS) elapsed += retryDelay(attempts++, () => 0);
    expect(attempts).toBeGreaterThan(20);
    expect(attempts).toBeLessThan(40);
  });
});

describe('subscriptions', () => {
  it('matches listed types and *', () => {
    expect(subscribes('["message.created"]', 'message.created')).toBe(true);
    expect(subscribes('["message.created"]', 'message.blocked')).toBe(false);
    expect(subscribes('["*"]', 'presence.updated')).toBe(true);
    expect(subscribes('not json', 'message.created')).toBe(false);
    expect(subscribes('{"a":1}', 'message.created')).toBe(false);
  });
});

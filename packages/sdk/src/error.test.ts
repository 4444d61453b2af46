import { describe, expect, it } from 'vitest';
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  AstrDeskError,
  BadRequestError,
  InternalServerError,
  type RateLimitError,
} from './error.js';

describe('APIError.generate', () => {
  it('falls back to the x-request-id header and the given message', () => {
    const err = APIError.generate(
      503,
      undefined,
      'Service Unavailable',
      new Headers({ 'x-request-id': 'req_h' }),
    );
    expect(err).toBeInstanceOf(InternalServerError);
    expect(err.requestId).toBe('req_h');
    expect(err.code).toBeUndefined();
    expect(err.message).toBe('503 Service Unavailable');
  });

  it('keeps the raw body and accepts plain header objects', () => {
    const body = {
      error: {
        type: 'invalid_request_error',
        code: 'invalid_json',
        message: 'Malformed JSON',
        request_id: 'req_b',
      },
    };
    const err = APIError.generate(400, body, undefined, { 'x-request-id': 'req_h' });
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.error).toBe(body);
    expect(err.requestId).toBe('req_b');
    expect(err.param).toBeUndefined();
  });

  it('gives other statuses the base class', () => {
    const err = APIError.generate(
      413,
      { error: { code: 'payload_too_large', message: 'big' } },
      undefined,
      undefined,
    );
    expect(err.constructor).toBe(APIError);
    expect(err.code).toBe('payload_too_large');
    expect(err.message).toBe('413 payload_too_large: big');
  });

  it('reads retryAfter in seconds from Retry-After or retry-after-ms', () => {
    expect(
      (APIError.generate(429, {}, undefined, { 'retry-after': '7' }) as RateLimitError).retryAfter,
    ).toBe(7);
    expect(
      (APIError.generate(429, {}, undefined, { 'retry-after-ms': '1500' }) as RateLimitError)
        .retryAfter,
    ).toBe(1.5);
    expect(
      (APIError.generate(429, {}, undefined, {}) as RateLimitError).retryAfter,
    ).toBeUndefined();
  });

  it('uses a status-only message when there is nothing else', () => {
    expect(APIError.generate(500, undefined, undefined, undefined).message).toBe(
      '500 status code (no body)',
    );
  });
});

describe('connection errors', () => {
  it('carry their cause and belong to the hierarchy', () => {
    const cause = new TypeError('fetch failed');
    const err = new APIConnectionError({ cause });
    expect(err.cause).toBe(cause);
    expect(err).toBeInstanceOf(AstrDeskError);
    expect(err.message).toBe('Connection error.');
    const timeout = new APITimeoutError();
    expect(timeout).toBeInstanceOf(APIConnectionError);
    expect(timeout.name).toBe('APITimeoutError');
    expect(timeout.message).toBe('Request timed out.');
  });
});

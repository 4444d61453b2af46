/**
 * Helpers shared by the client and resources. Everything here runs in browsers and in Node:
 * no Node built-ins, only web globals (fetch, AbortController, crypto, URLSearchParams).
 */
import { AstrDeskError } from '../error.js';

export { parseRetryAfterMs } from './retry-after.js';

/** Reads an environment variable when `process` exists (Node, Bun, Deno); undefined in browsers. */
export function readEnv(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const value = proc?.env?.[name]?.trim();
  return value ? value : undefined;
}

/** Whether we run in Node (or a runtime that poses as it) rather than a browser. */
export function isNodeLike(): boolean {
  const g = globalThis as { process?: { versions?: { node?: unknown } }; document?: unknown };
  return typeof g.process?.versions?.node === 'string' && g.document === undefined;
}

/** Node's version string (`v20.11.0`) when in Node, else undefined. */
export function nodeVersion(): string | undefined {
  const proc = (globalThis as { process?: { version?: unknown } }).process;
  return typeof proc?.version === 'string' ? proc.version : undefined;
}

/** A random v4 UUID from Web Crypto; falls back to getRandomValues where randomUUID is absent (non-secure contexts). */
export function uuid4(): string {
  const c = (globalThis as { crypto?: Partial<Crypto> }).crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof c?.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const INITIAL_RETRY_DELAY_MS = 500;
export const MAX_RETRY_DELAY_MS = 8_000;
/** A server-requested wait longer than this is not slept through: the error goes to the caller. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Exponential backoff with full jitter: a random delay in `[0, min(cap, base · 2^retry))`,
 * where `retry` counts from 0 for the first retry.
 */
export function backoffDelayMs(retry: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_MS, INITIAL_RETRY_DELAY_MS * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/**
 * Builds a path from a template, percent-encoding every interpolated value so an id can never
 * change which route is called.
 *
 * @example path`/v1/members/${id}` // '/v1/members/usr_01...'
 */
export function path(strings: TemplateStringsArray, ...params: unknown[]): string {
  let out = strings[0] ?? '';
  params.forEach((param, i) => {
    // `.` and `..` (even as %2E%2E) are dot segments that URL parsing resolves away, so the
    // request would reach another route: no id looks like that, refuse them.
    if (typeof param !== 'string' || param.length === 0 || param === '.' || param === '..') {
      throw new AstrDeskError(
        `Path parameter must be a non-empty string and not a dot segment, got ${JSON.stringify(param)}`,
      );
    }
    out += encodeURIComponent(param) + (strings[i + 1] ?? '');
  });
  return out;
}

export type QueryValue = string | number | boolean | Date | null | undefined;
export type Query = Record<string, QueryValue | readonly QueryValue[]>;

/** `?a=1&b=2` from an object, skipping undefined and null; Dates become ISO strings. Empty string when nothing is set. */
export function buildQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  const add = (key: string, v: QueryValue) => {
    if (v === undefined || v === null) return;
    params.append(key, v instanceof Date ? v.toISOString() : String(v));
  };
  for (const [key, value] of Object.entries(query)) {
    if (Array.isArray(value)) for (const v of value as readonly QueryValue[]) add(key, v);
    else add(key, value as QueryValue);
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Joins a base URL (absolute, or relative such as `/api` in a browser) and a path. */
export function joinURL(baseURL: string, p: string): string {
  return `${baseURL.replace(/\/+$/, '')}${p}`;
}

export type HeadersLike = Record<string, string | null | undefined>;

/**
 * Merges header objects case-insensitively into lower-cased names; a later `null` removes a
 * header set earlier, `undefined` leaves it alone.
 */
export function mergeHeaders(...sources: (HeadersLike | undefined)[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const source of sources) {
    if (!source) continue;
    for (const [name, value] of Object.entries(source)) {
      const key = name.toLowerCase();
      if (value === null) delete out[key];
      else if (value !== undefined) out[key] = value;
    }
  }
  return out;
}

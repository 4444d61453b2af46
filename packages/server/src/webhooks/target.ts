/**
 * SSRF guard for webhook targets. A tenant chooses the URL the server POSTs to, so without a
 * guard a webhook could reach the server's own loopback, the cluster network or a cloud
 * metadata endpoint (169.254.169.254). Two checks, both lifted by
 * `WEBHOOK_ALLOW_PRIVATE_TARGETS=true` (development and tests):
 *
 * - when an endpoint is created or updated, the URL's host must not be a private, loopback,
 *   link-local, unique-local, unspecified, multicast or otherwise reserved IP literal, nor a
 *   `localhost` name ({@link checkTargetUrl});
 * - when a delivery is sent, every address the host name resolves to must be public, and the
 *   connection goes to one of exactly those addresses ({@link guardedLookup}), so a DNS
 *   answer that changes between check and connect (rebinding) cannot slip through.
 */

import type { LookupAddress, LookupOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';

// --- addresses ------------------------------------------------------------------------------

/** [network, prefix length] of IPv4 ranges that are not the public internet. */
const V4_BLOCKED: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network", includes the unspecified 0.0.0.0
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT (shared address space)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, includes broadcast 255.255.255.255
];

/** [network, prefix length] of IPv6 ranges blocked outright. */
const V6_BLOCKED: ReadonlyArray<readonly [string, number]> = [
  ['::', 96], // unspecified, loopback and deprecated IPv4-compatible addresses
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo (tunnels to an arbitrary IPv4 address)
  ['2001:2::', 48], // benchmarking
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

/** IPv6 ranges that embed an IPv4 address: [network, prefix length, bit offset of the IPv4]. */
const V6_EMBEDDING_V4: ReadonlyArray<readonly [string, number, number]> = [
  ['::ffff:0:0', 96, 96], // IPv4-mapped
  ['::ffff:0:0:0', 96, 96], // IPv4-translated
  ['64:ff9b::', 96, 96], // NAT64
  ['2002::', 16, 16], // 6to4
];

function v4ToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  return (((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!) >>> 0;
}

function intToV4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses an IPv6 address (zone id, `::` and a trailing dotted quad allowed) to 128 bits. */
function v6ToBigInt(input: string): bigint | null {
  let ip = input;
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  if (isIP(ip) !== 6) return null;
  // A trailing dotted quad becomes two hextets.
  const lastColon = ip.lastIndexOf(':');
  const tail = ip.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return null;
    const n = v4ToInt(tail);
    ip = `${ip.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  let value = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    value = (value << 16n) | BigInt(Number.parseInt(g, 16));
  }
  return value;
}

function inV6Range(addr: bigint, network: string, bits: number): boolean {
  const net = v6ToBigInt(network);
  if (net === null) return false;
  const shift = BigInt(128 - bits);
  return addr >> shift === net >> shift;
}

function isBlockedV4(ip: string): boolean {
  const n = v4ToInt(ip);
  return V4_BLOCKED.some(([net, bits]) => {
    if (bits === 0) return true;
    const shift = 32 - bits;
    return n >>> shift === v4ToInt(net) >>> shift;
  });
}

/**
 * True when `ip` is not a public unicast address: loopback, private, link-local,
 * unique-local, unspecified, multicast, documentation/benchmark/reserved ranges, and IPv6
 * forms that carry such an IPv4 address (IPv4-mapped `::ffff:127.0.0.1`, NAT64, 6to4).
 * Anything that does not parse as an IP address counts as blocked.
 *
 * @example isBlockedAddress('10.1.2.3') // true
 * @example isBlockedAddress('::ffff:7f00:1') // true (127.0.0.1)
 * @example isBlockedAddress('8.8.8.8') // false
 */
export function isBlockedAddress(ip: string): boolean {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (isIPv4(bare)) return isBlockedV4(bare);
  const addr = v6ToBigInt(bare);
  if (addr === null) return true;
  for (const [net, bits, offset] of V6_EMBEDDING_V4) {
    if (inV6Range(addr, net, bits)) {
      const v4 = Number((addr >> BigInt(128 - offset - 32)) & 0xffffffffn);
      return isBlockedV4(intToV4(v4));
    }
  }
  return V6_BLOCKED.some(([net, bits]) => inV6Range(addr, net, bits));
}

// --- URLs -----------------------------------------------------------------------------------

const LOCAL_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'ip6-localhost',
  'ip6-loopback',
]);

/** A URL host without IPv6 brackets, lower-cased, trailing dots removed. */
export function bareHost(url: URL): string {
  let h = url.hostname.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.replace(/\.+$/, '');
}

export type TargetCheck = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * The create/update check: the URL parses, is http(s), and (unless `allowPrivate`) its host
 * is neither a blocked IP literal nor a `localhost` name. Host names are NOT resolved here;
 * resolution is checked when a delivery is sent. WHATWG URL parsing has already normalised
 * odd IPv4 spellings (`http://2130706433/`, `http://0x7f.1/` → `127.0.0.1`).
 */
export function checkTargetUrl(raw: string, allowPrivate: boolean): TargetCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'URL does not parse' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, reason: 'only http and https URLs are allowed' };
  const host = bareHost(url);
  if (host === '') return { ok: false, reason: 'URL has no host' };
  if (allowPrivate) return { ok: true, url };
  if (isIP(host)) {
    if (isBlockedAddress(host))
      return { ok: false, reason: `${host} is a private, loopback or reserved address` };
  } else if (LOCAL_NAMES.has(host) || host.endsWith('.localhost')) {
    return { ok: false, reason: `${host} is a local host name` };
  }
  return { ok: true, url };
}

// --- resolution at send time ----------------------------------------------------------------

/** Resolves a host name to all its addresses (injectable for tests). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  dnsLookup(hostname, { all: true, verbatim: true });

/** Raised (and recorded on the attempt) when a target resolves to a blocked address. */
export class TargetNotAllowedError extends Error {
  override readonly name = 'TargetNotAllowedError';
}

/**
 * Resolves `hostname` and, unless `allowPrivate`, refuses when ANY of its addresses is
 * blocked (a name with one public and one private address could otherwise be steered to
 * the private one).
 */
export async function resolveTarget(
  hostname: string,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
): Promise<LookupAddress[]> {
  const addresses = await resolve(hostname);
  if (addresses.length === 0) throw new Error(`${hostname} did not resolve`);
  if (!allowPrivate && addresses.some((a) => isBlockedAddress(a.address))) {
    throw new TargetNotAllowedError(
      `target not allowed: ${hostname} resolves to a private, loopback or reserved address`,
    );
  }
  return addresses;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `http.request`/`net.connect` that resolves through {@link resolveTarget}, so
 * the socket connects only to addresses that passed the check. Handles both the single
 * address and the `all: true` form (Node's happy-eyeballs connect asks for all).
 */
export function guardedLookup(allowPrivate: boolean, resolve: Resolver = systemResolver) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolveTarget(hostname, allowPrivate, resolve).then(
      (all) => {
        const family = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = family ? all.filter((a) => a.family === family) : all;
        const first = usable[0];
        if (!first) {
          callback(
            Object.assign(new Error(`${hostname} has no IPv${family} address`), {
              code: 'ENOTFOUND',
            }),
            '',
            0,
          );
        } else if (options.all) {
          callback(null, usable);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, '', 0),
    );
  };
}

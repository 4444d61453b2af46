import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { checkTargetUrl, guardedLookup, isBlockedAddress, resolveTarget } from './target.js';

const BLOCKED_URLS = [
  'http://127.0.0.1/',
  'http://127.8.9.10:8080/x',
  'http://10.0.0.1/',
  'http://10.255.255.255/',
  'http://172.16.0.1/',
  'http://172.31.255.254/',
  'http://192.168.1.1/',
  'http://169.254.169.254/latest/meta-data/',
  'http://100.64.0.1/',
  'http://0.0.0.0/',
  'http://0/',
  'http://224.0.0.1/',
  'http://255.255.255.255/',
  'http://[::1]/',
  'http://[::]/',
  'http://[fc00::1]/',
  'http://[fd12:3456:789a::1]/',
  'http://[fe80::1]/',
  'http://[ff02::1]/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://[::ffff:10.0.0.1]/',
  'http://[64:ff9b::a9fe:a9fe]/', // NAT64 of 169.254.169.254
  'http://[2002:c0a8:0101::1]/', // 6to4 of 192.168.1.1
  'http://localhost/',
  'http://LOCALHOST:3000/',
  'http://localhost./',
  'http://foo.localhost/',
  'http://a.b.localhost/',
  // Odd IPv4 spellings the URL parser normalises to loopback.
  'http://2130706433/',
  'http://0x7f.0.0.1/',
  'http://127.1/',
];

const ALLOWED_URLS = [
  'https://8.8.8.8/hook',
  'http://1.1.1.1:8080/',
  'https://example.com/hooks/astrdesk',
  'https://crm.example.com:8443/x?y=z',
  'http://172.32.0.1/',
  'http://192.169.0.1/',
  'https://[2606:4700:4700::1111]/',
  'http://[::ffff:8.8.8.8]/',
  'https://localhost.example.com/',
  'https://notlocalhost/',
];

describe('SSRF guard: addresses', () => {
  it('blocks loopback, private, link-local, unique-local, unspecified, multicast (v4 and v6)', () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.0.1',
      '169.254.0.1',
      '0.0.0.0',
      '100.100.100.100',
      '198.18.0.1',
      '240.0.0.1',
      '::1',
      '::',
      'fc00::',
      'fdff:ffff::1',
      'fe80::1',
      'fe80::1%eth0',
      'febf::1',
      'ff00::',
      '::ffff:127.0.0.1',
      '::ffff:192.168.10.1',
      '::ffff:0:a00:1',
      '2001:db8::1',
      '2001::1',
      '[::1]',
      'not-an-ip',
      '',
    ]) {
      expect(isBlockedAddress(ip), ip).toBe(true);
    }
  });

  it('allows public unicast addresses', () => {
    for (const ip of [
      '8.8.8.8',
      '1.1.1.1',
      '93.184.216.34',
      '172.15.255.255',
      '172.32.0.0',
      '100.63.255.255',
      '100.128.0.0',
      '11.0.0.1',
      '2606:4700:4700::1111',
      '2a00:1450:4001:82a::200e',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
      '2002:808:808::1',
    ]) {
      expect(isBlockedAddress(ip), ip).toBe(false);
    }
  });
});

describe('SSRF guard: URLs', () => {
  it('blocks private and local targets', () => {
    for (const url of BLOCKED_URLS) {
      const r = checkTargetUrl(url, false);
      expect(r.ok, url).toBe(false);
    }
  });

  it('allows public targets (host names are not resolved here)', () => {
    for (const url of ALLOWED_URLS) {
      const r = checkTargetUrl(url, false);
      expect(r.ok, url).toBe(true);
    }
  });

  it('allows everything http(s) when private targets are allowed', () => {
    for (const url of BLOCKED_URLS) expect(checkTargetUrl(url, true).ok, url).toBe(true);
  });

  it('allows only http and https', () => {
    for (const url of [
      'ftp://example.com/',
      'file:///etc/passwd',
      'gopher://example.com/',
      'nope',
    ]) {
      expect(checkTargetUrl(url, false).ok, url).toBe(false);
      expect(checkTargetUrl(url, true).ok, url).toBe(false);
    }
  });
});

describe('SSRF guard: resolution at send time', () => {
  const fake =
    (table: Record<string, string[]>) =>
    async (host: string): Promise<LookupAddress[]> =>
      (table[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  const resolver = fake({
    'public.test': ['93.184.216.34', '2606:2800:220:1::1'],
    'rebind.test': ['93.184.216.34', '10.0.0.5'],
    'metadata.test': ['169.254.169.254'],
    'v6local.test': ['::1'],
  });

  it('refuses a name when any of its addresses is private', async () => {
    await expect(resolveTarget('public.test', false, resolver)).resolves.toHaveLength(2);
    await expect(resolveTarget('rebind.test', false, resolver)).rejects.toThrow(/not allowed/);
    await expect(resolveTarget('metadata.test', false, resolver)).rejects.toThrow(/not allowed/);
    await expect(resolveTarget('v6local.test', false, resolver)).rejects.toThrow(/not allowed/);
    await expect(resolveTarget('nothing.test', false, resolver)).rejects.toThrow(/did not resolve/);
    await expect(resolveTarget('metadata.test', true, resolver)).resolves.toHaveLength(1);
  });

  it('hands the connecting socket only checked addresses (single and all forms)', async () => {
    const lookup = guardedLookup(false, resolver);
    const call = (host: string, options: object) =>
      new Promise<{ err: unknown; address: unknown; family: unknown }>((resolve) =>
        lookup(host, options, (err, address, family) => resolve({ err, address, family })),
      );
    expect(await call('public.test', {})).toMatchObject({
      err: null,
      address: '93.184.216.34',
      family: 4,
    });
    expect(await call('public.test', { family: 6 })).toMatchObject({
      address: '2606:2800:220:1::1',
      family: 6,
    });
    const all = await call('public.test', { all: true });
    expect(all.err).toBeNull();
    expect(all.address).toHaveLength(2);
    const refused = await call('rebind.test', { all: true });
    expect(String(refused.err)).toMatch(/not allowed/);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { startSidecar } from '../index.js';
import {
  API_TOKEN,
  entry,
  FakeControlServer,
  FakeIngestServer,
  INSTANCE_TOKEN,
  interceptBody,
  post,
  tempDir,
  testConfig,
  waitFor,
} from '../test-utils/index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function running(opts: { serverUrl?: string } = {}) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const sc = await startSidecar(testConfig(opts.serverUrl ?? 'http://127.0.0.1:9', dir));
  cleanups.push(() => sc.close());
  return sc;
}

const get = async (url: string, token?: string) => {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, headers: res.headers, text: await res.text() };
};

describe('health routes', () => {
  it('/livez and /readyz answer without a token once the cache is loaded', async () => {
    const sc = await running();
    const live = await get(`${sc.url}/livez`);
    expect(live.status).toBe(200);
    expect(JSON.parse(live.text)).toEqual({ status: 'ok', version: sc.version });
    const ready = await get(`${sc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({
      status: 'ready',
      checks: { cache: { ok: true }, outbox: { ok: true } },
    });
  });

  it('/astrbot-api/v1/health needs no token and reports cache, sync, connection and outbox', async () => {
    const control = await FakeControlServer.start({ token: INSTANCE_TOKEN });
    cleanups.push(() => control.close());
    control.commit({ upsert: entry(1) }, { upsert: entry(2) });
    const sc = await running({ serverUrl: control.url });
    await waitFor(() => sc.cache.revision === 2 && sc.channel.connected);
    const r = await get(`${sc.url}/astrbot-api/v1/health`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBeTruthy();
    const h = JSON.parse(r.text);
    expect(h).toMatchObject({
      status: 'ok',
      problems: [],
      cache_loaded: true,
      entries: 2,
      revision: 2,
      server_revision: 2,
      lag: 0,
      server_connected: true,
      outbox_depth: 0,
      outbox_oldest_age_seconds: 0,
      outbox_dead_letters: 0,
      version: sc.version,
      channel: { state: 'open', instance_id: 'inst_FAKE', tenant_id: 'tnt_FAKE' },
    });
    expect(h.last_sync_at).toMatch(/^\d{4}-/);
  });

  it('is degraded, still enforcing, while the server is unreachable', async () => {
    const sc = await running();
    await post(`${sc.url}/astrbot-api/v1/messages/intercept`, interceptBody(1));
    const h = JSON.parse((await get(`${sc.url}/astrbot-api/v1/health`)).text);
    expect(h.status).toBe('degraded');
    expect(h.server_connected).toBe(false);
    expect(h.problems[0]).toMatch(/not connected/);
    expect(h.outbox_depth).toBe(1);
    expect(h.lag).toBeNull();
  });

  it('/metrics is Prometheus text with the gauges and counters', async () => {
    const ingest = await FakeIngestServer.start();
    cleanups.push(() => ingest.close());
    const control = await FakeControlServer.start({ token: INSTANCE_TOKEN, attach: ingest.server });
    cleanups.push(() => control.close());
    control.commit({ upsert: entry(1) });
    const sc = await running({ serverUrl: control.url });
    await waitFor(() => sc.cache.revision === 1);
    await post(`${sc.url}/astrbot-api/v1/messages/intercept`, interceptBody(1));
    await post(`${sc.url}/astrbot-api/v1/messages/intercept`, interceptBody(2));
    await waitFor(() => ingest.accepted.length === 2, { what: 'delivered' });
    const r = await get(`${sc.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const line of [
      'astrdesk_sidecar_server_connected 1',
      'astrdesk_sidecar_blacklist_revision 1',
      'astrdesk_sidecar_blacklist_entries 1',
      'astrdesk_sidecar_blacklist_lag 0',
      'astrdesk_sidecar_intercept_total{action="pass"} 1',
      'astrdesk_sidecar_intercept_total{action="block"} 1',
      'astrdesk_sidecar_intercept_duration_seconds_count 2',
      '# TYPE astrdesk_sidecar_intercept_duration_seconds histogram',
    ])
      expect(r.text).toContain(line);
    expect(r.text).toContain('astrdesk_sidecar_outbox_sent_total 2');
    expect(r.text).toMatch(/^astrdesk_sidecar_outbox_depth 0$/m);
    expect(r.text).toMatch(/^astrdesk_sidecar_outbox_oldest_age_seconds [\d.]+$/m);
    // The outbox WAL is flushed in the background after those commits, and says so.
    await waitFor(() => (sc.outbox.walFlushes?.syncs ?? 0) > 0, { what: 'a WAL flush' });
    const again = await get(`${sc.url}/metrics`);
    expect(again.text).toMatch(/^astrdesk_sidecar_outbox_wal_flushes_total [1-9]\d*$/m);
    expect(again.text).toMatch(/^astrdesk_sidecar_outbox_wal_flush_errors_total 0$/m);
  });

  it('unknown routes answer the error envelope; other /astrbot-api routes need the token', async () => {
    const sc = await running();
    const nf = await get(`${sc.url}/nope`);
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.text).error.code).toBe('route_not_found');
    expect((await get(`${sc.url}/astrbot-api/v1/outbox/dead-letters`)).status).toBe(401);
    const ok = await get(`${sc.url}/astrbot-api/v1/outbox/dead-letters`, API_TOKEN);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toEqual({ data: [], total: 0 });
  });

  it('refuses a body over SIDECAR_BODY_LIMIT_BYTES with 413', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const sc = await startSidecar(
      testConfig('http://127.0.0.1:9', dir, { SIDECAR_BODY_LIMIT_BYTES: '2048' }),
    );
    cleanups.push(() => sc.close());
    const r = await post(
      `${sc.url}/astrbot-api/v1/messages/intercept`,
      interceptBody(1, { text: 'x'.repeat(5000) }),
    );
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
  });
});

import { Hono } from 'hono';
import type { Blacklist } from '../blacklist/index.js';
import type { ControlChannel } from '../channel/index.js';
import type { AppEnv } from '../infra/http.js';
import type { InterceptStats } from '../intercept/index.js';
import type { Outbox } from '../outbox/index.js';

export interface HealthDeps {
  blacklist: Blacklist;
  outbox: Outbox;
  channel: ControlChannel;
  stats: InterceptStats;
  version: string;
  startedAt: number;
  now: () => number;
}

/** The body of `GET /astrbot-api/v1/health`. */
export interface SidecarHealth {
  status: 'ok' | 'degraded';
  /** Why the status is `degraded` (empty when ok). */
  problems: string[];
  version: string;
  uptime_seconds: number;
  cache_loaded: boolean;
  /** The in-memory index is complete (until then lookups probe SQLite, equally correct). */
  cache_indexed: boolean;
  /** Entries held (expired ones too; they stop blocking at lookup). */
  entries: number;
  /** Revision of the cached set. */
  revision: number;
  server_revision: number | null;
  /** server_revision − revision, when the server's revision is known. */
  lag: number | null;
  last_sync_at: string | null;
  server_connected: boolean;
  channel: {
    state: string;
    url: string;
    instance_id: string | null;
    tenant_id: string | null;
    reconnects: number;
    last_connected_at: string | null;
    last_error: string | null;
  };
  outbox_depth: number;
  outbox_oldest_age_seconds: number;
  outbox_dead_letters: number;
  outbox: {
    sent: number;
    send_failures: number;
    last_sent_at: string | null;
    last_error: string | null;
  };
  intercepts: { pass: number; block: number; outbound: number };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function healthSnapshot(d: HealthDeps): SidecarHealth {
  const { blacklist: bl, outbox, channel } = d;
  const now = d.now();
  const problems: string[] = [];
  if (!bl.loaded) problems.push('blacklist cache not loaded');
  if (!channel.connected)
    problems.push(
      `not connected to the server${channel.lastError ? ` (${channel.lastError})` : ''}; enforcing from the cache`,
    );
  const oldest = outbox.oldestAgeSeconds(now);
  if (oldest > 300) problems.push(`oldest outbox event waiting ${Math.round(oldest)} s`);
  if (outbox.deadLetters > 0) problems.push(`${outbox.deadLetters} event(s) in dead_letter`);
  return {
    status: bl.loaded && channel.connected ? 'ok' : 'degraded',
    problems,
    version: d.version,
    uptime_seconds: Math.round((Date.now() - d.startedAt) / 1000),
    cache_loaded: bl.loaded,
    cache_indexed: bl.indexed,
    entries: bl.size,
    revision: bl.revision,
    server_revision: bl.serverRevision,
    lag: bl.lag,
    last_sync_at: iso(bl.lastSyncAt),
    server_connected: channel.connected,
    channel: {
      state: channel.state,
      url: channel.url,
      instance_id: channel.instanceId,
      tenant_id: channel.tenantId,
      reconnects: channel.reconnects,
      last_connected_at: iso(channel.lastConnectedAt),
      last_error: channel.lastError,
    },
    outbox_depth: outbox.depth,
    outbox_oldest_age_seconds: Math.round(oldest * 1000) / 1000,
    outbox_dead_letters: outbox.deadLetters,
    outbox: {
      sent: outbox.stats.sent,
      send_failures: outbox.stats.send_failures,
      last_sent_at: iso(outbox.stats.last_sent_at),
      last_error: outbox.stats.last_error,
    },
    intercepts: { pass: d.stats.pass, block: d.stats.block, outbound: d.stats.outbound },
  };
}

/** Prometheus text exposition of the sidecar's gauges and counters. */
export function renderMetrics(d: HealthDeps): string {
  const h = healthSnapshot(d);
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, values: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of values) lines.push(`${name}${labels ? `{${labels}}` : ''} ${v}`);
  };
  const p = 'astrdesk_sidecar_';
  metric(`${p}info`, 'gauge', 'Build information.', [[`version="${d.version}"`, 1]]);
  metric(`${p}uptime_seconds`, 'gauge', 'Seconds since start.', [['', h.uptime_seconds]]);
  metric(`${p}server_connected`, 'gauge', '1 while the control channel is open.', [
    ['', h.server_connected ? 1 : 0],
  ]);
  metric(`${p}control_reconnects_total`, 'counter', 'Control channel reconnects.', [
    ['', h.channel.reconnects],
  ]);
  metric(`${p}blacklist_cache_loaded`, 'gauge', '1 once the cache is loaded.', [
    ['', h.cache_loaded ? 1 : 0],
  ]);
  metric(
    `${p}blacklist_cache_indexed`,
    'gauge',
    '1 once the in-memory index is complete (before that, lookups probe SQLite).',
    [['', h.cache_indexed ? 1 : 0]],
  );
  metric(`${p}blacklist_entries`, 'gauge', 'Blacklist entries held (expired included).', [
    ['', h.entries],
  ]);
  metric(`${p}blacklist_revision`, 'gauge', 'Revision of the cached blacklist.', [
    ['', h.revision],
  ]);
  if (h.server_revision !== null)
    metric(
      `${p}blacklist_server_revision`,
      'gauge',
      'Last blacklist revision the server announced.',
      [['', h.server_revision]],
    );
  if (h.lag !== null)
    metric(`${p}blacklist_lag`, 'gauge', 'Server revision minus cached revision.', [['', h.lag]]);
  metric(`${p}outbox_depth`, 'gauge', 'Events waiting in the outbox.', [['', h.outbox_depth]]);
  metric(`${p}outbox_oldest_age_seconds`, 'gauge', 'Age of the oldest waiting event.', [
    ['', h.outbox_oldest_age_seconds],
  ]);
  metric(`${p}outbox_dead_letters`, 'gauge', 'Events the server rejected, kept in dead_letter.', [
    ['', h.outbox_dead_letters],
  ]);
  metric(`${p}outbox_sent_total`, 'counter', 'Events delivered to the server.', [
    ['', h.outbox.sent],
  ]);
  metric(`${p}outbox_send_failures_total`, 'counter', 'Failed delivery attempts.', [
    ['', h.outbox.send_failures],
  ]);
  const wal = d.outbox.walFlushes;
  if (wal) {
    metric(
      `${p}outbox_wal_flushes_total`,
      'counter',
      'Background fdatasyncs of the outbox WAL (so checkpoints do not stall intercepts).',
      [['', wal.syncs]],
    );
    metric(`${p}outbox_wal_flush_errors_total`, 'counter', 'Background WAL flushes that failed.', [
      ['', wal.errors],
    ]);
  }
  metric(`${p}intercept_total`, 'counter', 'Intercept answers by action.', [
    ['action="pass"', d.stats.pass],
    ['action="block"', d.stats.block],
  ]);
  metric(`${p}outbound_total`, 'counter', 'Outbound replies reported.', [['', d.stats.outbound]]);
  const hist = `${p}intercept_duration_seconds`;
  lines.push(
    `# HELP ${hist} Intercept handling time (validation, lookup, outbox write).`,
    `# TYPE ${hist} histogram`,
    ...d.stats.latency.render(hist),
  );
  return `${lines.join('\n')}\n`;
}

/** `/livez`, `/readyz`, `/metrics` and `/astrbot-api/v1/health` (all without the bearer). */
export function healthRoutes(d: HealthDeps): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/livez', (c) => c.json({ status: 'ok' as const, version: d.version }, 200))
    .get('/readyz', (c) => {
      const checks = {
        cache: d.blacklist.loaded
          ? {
              ok: true,
              detail: `${d.blacklist.size} entries at revision ${d.blacklist.revision}${d.blacklist.indexed ? '' : ' (in-memory index loading; lookups from SQLite)'}`,
            }
          : { ok: false, detail: 'blacklist cache not loaded' },
        outbox: d.outbox.db.open ? { ok: true } : { ok: false, detail: 'outbox closed' },
      };
      const ready = checks.cache.ok && checks.outbox.ok;
      return c.json(
        { status: ready ? ('ready' as const) : ('not_ready' as const), checks },
        ready ? 200 : 503,
      );
    })
    .get('/metrics', (c) =>
      c.body(renderMetrics(d), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }),
    )
    .get('/astrbot-api/v1/health', (c) => c.json(healthSnapshot(d), 200));
}

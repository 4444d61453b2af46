import type { Services } from '../infra/services.js';
import { compactChangeLog } from './service.js';

/** One compaction pass of the blacklist change log with the configured ages. */
export function runBlacklistJobs(s: Services): Promise<number> {
  const h = 3_600_000;
  return compactChangeLog(
    s.db,
    s.now(),
    s.config.BLACKLIST_CHANGELOG_RETENTION_HOURS * h,
    s.config.BLACKLIST_CHANGELOG_HARD_LIMIT_HOURS * h,
  );
}

export function startBlacklistJobs(s: Services, intervalMs = 10 * 60_000) {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = runBlacklistJobs(s).catch((err) =>
      s.log.error({ err }, 'blacklist compaction failed'),
    );
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

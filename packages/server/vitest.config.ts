import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'server',
    include: ['src/**/*.test.ts'],
    // Each test file gets its own database (SQLite file or PostgreSQL schema), so files may
    // run in parallel; tests inside a file share one app.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'sdk',
    include: ['src/**/*.test.ts'],
    // The end-to-end test starts the real server (migrations, password hashing).
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

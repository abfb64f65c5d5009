import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Native addons and worker threads do not mix: every test file runs in its own child process.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // CI reads the pass/fail counts from the JSON report (.ci/run prints them).
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});

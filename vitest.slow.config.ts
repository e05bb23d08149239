import { defineConfig } from 'vitest/config';

/** `npm run test:slow`: the sweeps over every shipped model (test/slow/), with generous timeouts. */
export default defineConfig({
  test: {
    include: ['test/slow/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 900_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/plain-summary-reporter.ts'],
  },
});

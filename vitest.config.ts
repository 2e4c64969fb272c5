import { defineConfig } from 'vitest/config';

// The file suffix picks the tier: *.unit.test.ts need nothing; *.int.test.ts need the real services,
// which the global setup finds (LOCUS_* or ~/.locus/env), starts (Docker), or fails fast about.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['test/**/*.unit.test.ts', 'src/**/*.unit.test.ts'],
        },
      },
      {
        test: {
          name: 'int',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/apply-services.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Two cores, five servers: a few files at a time keeps the services responsive.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
  },
});

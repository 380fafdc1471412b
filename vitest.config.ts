import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native kernels use OpenMP over both cores; one test file at a time keeps timings sane.
    fileParallelism: false,
    pool: 'forks',
  },
});

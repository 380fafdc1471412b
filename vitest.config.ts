import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Only the compiled output at the root is excluded (vitest's default '**/dist/**' would
    // also hide test/dist, the multi-process suites).
    exclude: ['**/node_modules/**', 'dist/**', 'build/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native kernels use OpenMP over both cores; one test file at a time keeps timings sane.
    fileParallelism: false,
    pool: 'forks',
  },
});

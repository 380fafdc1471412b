import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Only the compiled output at the root is excluded (vitest's default '**/dist/**' would
    // also hide test/dist, the multi-process suites).
    exclude: ['**/node_modules/**', 'dist/**', 'build/**'],
    // Tests run dist/ and the native addon: a build older than src/ or native/ stops the run.
    globalSetup: ['test/global_setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native kernels use OpenMP over both cores; one test file at a time keeps timings sane.
    fileParallelism: false,
    pool: 'forks',
  },
});

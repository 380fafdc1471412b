// Runs once before any test file (vitest.config.ts globalSetup): refuses to test a build older
// than its sources (test/helpers/build_freshness.ts says why it stops rather than builds). It
// exits at once: thrown, the error would come after vitest's "No test files found" and a
// summary line of 0 failures.
import { join } from 'node:path';
import { staleBuildMessage } from './helpers/build_freshness.js';

export default function setup(): void {
  const message = staleBuildMessage(join(import.meta.dirname, '..'));
  if (message) {
    process.stderr.write(`\n${message}\n`);
    process.exit(1);
  }
}

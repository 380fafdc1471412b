// The stale-build check of test/global_setup.ts over a fake repository tree whose file times
// are set by hand.
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ADDON, NATIVE_STAMP, staleBuildMessage } from '../helpers/build_freshness.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('freshness');
afterAll(() => tmp.cleanup());
const root = join(tmp.dir, 'repo');
const T0 = Date.parse('2026-01-01T00:00:00Z') / 1000;

/** Writes `rel` with modification time T0 + `at` seconds. */
function file(rel: string, at: number): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, '');
  utimesSync(p, T0 + at, T0 + at);
}

beforeEach(() => {
  rmSync(root, { recursive: true, force: true });
  // sources at t = 0..3, their outputs at t = 10
  file('tsconfig.json', 0);
  file('src/a.ts', 1);
  file('src/sub/b.ts', 2);
  file('src/types.d.ts', 50); // declarations emit nothing
  file('native/CMakeLists.txt', 0);
  file('native/src/cpu/x.cc', 3);
  file('native/src/cuda/k.cu', 3);
  file('dist/a.js', 10);
  file('dist/sub/b.js', 10);
  file(ADDON, 10);
});

describe('stale build check', () => {
  it('a build newer than every source passes', () => {
    expect(staleBuildMessage(root)).toBeNull();
  });

  it('a TypeScript source newer than its output fails, naming the newest one and the command', () => {
    file('src/a.ts', 20);
    file('src/sub/b.ts', 30);
    expect(staleBuildMessage(root)).toBe('stale build, the tests would run old code: dist/ is older than its sources: '
      + 'src/sub/b.ts (modified 2026-01-01T00:00:30.000Z), but dist/sub/b.js was built 2026-01-01T00:00:10.000Z; '
      + 'run `npm run build:ts`. (`npm run build` builds both.)');
  });

  it('a source without output, or a newer tsconfig.json, fails', () => {
    file('src/new.ts', 5);
    expect(staleBuildMessage(root)).toContain('src/new.ts (modified 2026-01-01T00:00:05.000Z), but dist/new.js does not exist; run `npm run build:ts`');
    rmSync(join(root, 'src/new.ts'));
    file('tsconfig.json', 20);
    expect(staleBuildMessage(root)).toContain('dist/ is older than its sources: tsconfig.json (modified 2026-01-01T00:00:20.000Z)');
  });

  it('a native source newer than the addon fails; a later build stamp (a build with nothing to relink) passes', () => {
    file('native/src/cuda/k.cu', 20);
    expect(staleBuildMessage(root)).toBe('stale build, the tests would run old code: the native addon is older than its sources: '
      + 'native/src/cuda/k.cu (modified 2026-01-01T00:00:20.000Z), but the addon was built 2026-01-01T00:00:10.000Z; '
      + 'run `npm run build:native`. (`npm run build` builds both.)');
    file('native/CMakeLists.txt', 25);
    expect(staleBuildMessage(root)).toContain('native/CMakeLists.txt (modified 2026-01-01T00:00:25.000Z)');
    file(NATIVE_STAMP, 30);
    expect(staleBuildMessage(root)).toBeNull();
  });

  it('a missing addon fails; both stale at once are both named', () => {
    rmSync(join(root, ADDON));
    file('src/a.ts', 20);
    const message = staleBuildMessage(root)!;
    expect(message).toContain('src/a.ts (modified 2026-01-01T00:00:20.000Z)');
    expect(message).toContain(`the native addon is not built: ${ADDON} does not exist; run \`npm run build:native\``);
  });
});

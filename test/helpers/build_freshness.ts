// Is the build as new as its sources? Tests run dist/ (CLIs spawned, worker .mjs files) and
// build/native/Release/telechat_native.node; after an edit to src/ or native/ without a
// rebuild they would test the old code and pass or fail for the wrong reason. Run once per
// test run by test/global_setup.ts, which refuses to start on a stale build.
//
// Rules (modification times, as make does):
//   TypeScript: every src/**/*.ts has its dist/**/*.js, no older than the .ts or tsconfig.json.
//   Addon: no file under native/src nor native/CMakeLists.txt is newer than the last build,
//     the later of telechat_native.node and build-stamp (which the CMake build touches even
//     when it had nothing to recompile or relink).
// Failing fast rather than building here: the CI path (scripts/setup.sh, then npm test)
// already builds, a build's own errors belong in its own output, and a native build with
// nvcc takes minutes that a test run should not hide.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export const ADDON = join('build', 'native', 'Release', 'telechat_native.node');
export const NATIVE_STAMP = join('build', 'native', 'Release', 'build-stamp');

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []);
}

const mtime = (path: string): number => statSync(path).mtimeMs;
const when = (ms: number): string => new Date(ms).toISOString();

interface Stale { source: string; sourceTime: number; reason: string }

/** The newest source whose output is missing or older, or null. */
function newest(stale: Stale[]): Stale | null {
  return stale.reduce<Stale | null>((a, b) => (a === null || b.sourceTime > a.sourceTime ? b : a), null);
}

function staleTypeScript(root: string): Stale | null {
  const tsconfig = join(root, 'tsconfig.json');
  const configTime = mtime(tsconfig);
  const stale: Stale[] = [];
  for (const file of filesUnder(join(root, 'src'))) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    const rel = relative(join(root, 'src'), file);
    const out = join(root, 'dist', rel.replace(/\.ts$/, '.js'));
    const sourceTime = Math.max(mtime(file), configTime);
    const source = configTime > mtime(file) ? 'tsconfig.json' : join('src', rel);
    if (!existsSync(out)) stale.push({ source: join('src', rel), sourceTime: mtime(file), reason: `${relative(root, out)} does not exist` });
    else if (mtime(out) < sourceTime) stale.push({ source, sourceTime, reason: `${relative(root, out)} was built ${when(mtime(out))}` });
  }
  return newest(stale);
}

function staleAddon(root: string): Stale | null {
  const addon = join(root, ADDON);
  if (!existsSync(addon)) return { source: 'native/', sourceTime: 0, reason: `${ADDON} does not exist` };
  const stamp = join(root, NATIVE_STAMP);
  const built = Math.max(mtime(addon), existsSync(stamp) ? mtime(stamp) : 0);
  const sources = [...filesUnder(join(root, 'native', 'src')), join(root, 'native', 'CMakeLists.txt')].filter(existsSync);
  const stale = sources.filter((f) => mtime(f) > built)
    .map((f) => ({ source: relative(root, f), sourceTime: mtime(f), reason: `the addon was built ${when(built)}` }));
  return newest(stale);
}

/** null when dist/ and the addon are at least as new as their sources; else one message saying what to run. */
export function staleBuildMessage(root: string): string | null {
  const problems: string[] = [];
  const ts = staleTypeScript(root);
  if (ts) {
    const edited = ts.sourceTime > 0 ? ` (modified ${when(ts.sourceTime)})` : '';
    problems.push(`dist/ is older than its sources: ${ts.source}${edited}, but ${ts.reason}; run \`npm run build:ts\``);
  }
  const native = staleAddon(root);
  if (native) {
    problems.push(native.sourceTime > 0
      ? `the native addon is older than its sources: ${native.source} (modified ${when(native.sourceTime)}), but ${native.reason}; run \`npm run build:native\``
      : `the native addon is not built: ${native.reason}; run \`npm run build:native\``);
  }
  if (problems.length === 0) return null;
  return `stale build, the tests would run old code: ${problems.join('. ')}. (\`npm run build\` builds both.)`;
}

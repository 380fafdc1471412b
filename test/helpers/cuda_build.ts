// Whether the tests that need the addon's CUDA part run. The build compiles it whenever it finds
// nvcc (native/CMakeLists.txt), so a build without it next to an nvcc is a broken build, and CI
// (CI=true, which builds with nvcc) must run every test: both fail with one clear message.
// Only outside CI and without nvcc may a test return early, and it says so in the log.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { addon } from '../../src/native/addon.js';

/** The nvcc a build would find, as CMake's check_language(CUDA) looks: $CUDACXX, PATH, the usual folders. */
export function findNvcc(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.CUDACXX && existsSync(env.CUDACXX)) return env.CUDACXX;
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean).concat(['/usr/local/cuda/bin', '/usr/local/bin']);
  return dirs.map((d) => join(d, 'nvcc')).find((p) => existsSync(p)) ?? null;
}

/**
 * true when this build has its CUDA part; otherwise throws (nvcc present, or CI=true) or logs
 * why `what` does not run here and returns false.
 */
export function cudaBuildRequired(what: string, built = addon.buildInfo().cuda,
  nvcc = findNvcc(), ci = process.env.CI === 'true'): boolean {
  if (built) return true;
  const rebuild = 'rebuild it with `npm run build:native` (it compiles the CUDA part whenever it finds nvcc)';
  if (nvcc) throw new Error(`${what}: the native addon was built without its CUDA part, but nvcc is at ${nvcc}: ${rebuild}`);
  if (ci) throw new Error(`${what}: CI=true runs every test, and this build has no CUDA part (no nvcc in $CUDACXX, PATH, /usr/local/cuda/bin or /usr/local/bin): install the CUDA toolkit, then ${rebuild}`);
  console.warn(`NOT RUN: ${what}: this build has no CUDA part and this machine no nvcc (allowed outside CI only)`);
  return false;
}

// When the tests that need the addon's CUDA part may not run (test/helpers/cuda_build.ts): a
// build without it fails them whenever nvcc exists or CI=true; only outside CI without nvcc
// do they return early, saying so.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { cudaBuildRequired, findNvcc } from '../helpers/cuda_build.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('cuda-build');
afterAll(() => tmp.cleanup());

describe('CUDA build requirement', () => {
  it('finds nvcc through $CUDACXX or PATH', () => {
    const bin = join(tmp.dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'nvcc'), '#!/bin/sh\n');
    chmodSync(join(bin, 'nvcc'), 0o755);
    expect(findNvcc({ PATH: `/nonexistent:${bin}` })).toBe(join(bin, 'nvcc'));
    expect(findNvcc({ CUDACXX: join(bin, 'nvcc'), PATH: '' })).toBe(join(bin, 'nvcc'));
  });

  it('a CUDA build runs the checks, CI or not', () => {
    expect(cudaBuildRequired('x', true, null, true)).toBe(true);
    expect(cudaBuildRequired('x', true, '/usr/local/bin/nvcc', false)).toBe(true);
  });

  it('a build without the CUDA part fails when nvcc exists (CI or not) or when CI=true', () => {
    for (const ci of [true, false]) {
      expect(() => cudaBuildRequired('the NCCL checks', false, '/usr/local/bin/nvcc', ci)).toThrow(
        'the NCCL checks: the native addon was built without its CUDA part, but nvcc is at /usr/local/bin/nvcc: rebuild it with `npm run build:native`');
    }
    expect(() => cudaBuildRequired('the NCCL checks', false, null, true)).toThrow(/^the NCCL checks: CI=true runs every test, and this build has no CUDA part/);
  });

  it('outside CI without nvcc: returns false and logs what did not run', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(cudaBuildRequired('the NCCL checks', false, null, false)).toBe(false);
      expect(warn).toHaveBeenCalledWith('NOT RUN: the NCCL checks: this build has no CUDA part and this machine no nvcc (allowed outside CI only)');
    } finally {
      warn.mockRestore();
    }
  });
});

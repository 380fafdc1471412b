// bench:comm pairs each of our (op, size, ranks) points with the PyTorch peer's; a point the peer
// did not report used to be left off the table (\`if (!torch) continue\`), so comm.json and the page
// lost that row without a word. Here the peer is comm_torch.py behind a filter that drops its
// broadcast rows; the run must fail naming the point and write no result. Runs in a temp dir
// (dist/ and scripts/ linked) so the repository's bench-results/ is never touched. About 5 s.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let tmp: { dir: string; cleanup: () => void } | undefined;
afterEach(() => tmp?.cleanup());

describe('bench:comm', () => {
  it('a point the PyTorch peer did not report fails the run, naming it, instead of leaving its row out', () => {
    tmp = makeTmpDir('bench-comm');
    for (const d of ['dist', 'scripts']) symlinkSync(join(ROOT, d), join(tmp.dir, d));
    mkdirSync(join(tmp.dir, 'bin'));
    const python = join(tmp.dir, 'bin', 'python-no-broadcast');
    writeFileSync(python, `#!/bin/sh\n/usr/bin/python3 "$@" | grep -v '"op": "broadcast"'\nexit 0\n`);
    chmodSync(python, 0o755);
    const res = spawnSync(process.execPath, [join(ROOT, 'dist/bench/comm.js')], {
      cwd: tmp.dir, encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, BENCH_SIZES_MB: '1', BENCH_RANKS: '2', BENCH_ROUNDS: '1', TELECHAT_PYTHON: python },
    });
    expect(res.status, res.stdout + res.stderr).toBe(1);
    expect(res.stderr).toContain('bench:comm: scripts/reference/comm_torch.py reported no broadcast of 1 MB on 2 ranks');
    expect(existsSync(join(tmp.dir, 'bench-results', 'comm.json'))).toBe(false);
  });
});

// The NCCL backend is loaded with dlopen. Without libnccl.so.2 (this CPU machine) the loader
// must say so and list every place it looked, including TELECHAT_NCCL_PATH and LD_LIBRARY_PATH.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { repoRoot } from './helpers.js';

describe('NCCL loader', () => {
  it('reports "NCCL not found, looked in: ..." naming every candidate', () => {
    // A child process, so the variables are in its environment when the loader reads them.
    const script = `import('./src/native/addon.ts').catch(() => null);
      const { addon } = await import(process.env.ADDON_JS);
      try { const i = addon.ncclProbe(); console.log('FOUND ' + i.path); } catch (e) { console.log(e.message); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repoRoot, encoding: 'utf8',
      env: { ...process.env, ADDON_JS: `${repoRoot}/dist/native/addon.js`, TELECHAT_NCCL_PATH: '/opt/nowhere/nccl',
        LD_LIBRARY_PATH: '/opt/ld-a:/opt/ld-b' },
    });
    if (out.startsWith('FOUND')) throw new Error(`this machine has NCCL (${out.trim()}); the not-found check needs one without`);
    expect(out).toContain('NCCL not found, looked in: /opt/nowhere/nccl, /opt/ld-a/libnccl.so.2, /opt/ld-b/libnccl.so.2, ');
    expect(out).toContain('nvidia/nccl/lib/libnccl.so.2');
    expect(out).toContain('(set TELECHAT_NCCL_PATH to libnccl.so.2 or its directory)');
  });
});

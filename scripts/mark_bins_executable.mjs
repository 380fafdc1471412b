// After tsc: the package.json bin scripts (dist/cli/*.js, each with a #!/usr/bin/env node line)
// executable. tsc writes new files without the execute bit, and `npx telechat-train` in a fresh
// clone runs the bin link, which the shell then refuses ("Permission denied").
import { chmodSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
for (const file of Object.values(pkg.bin)) chmodSync(new URL(`../${file}`, import.meta.url), 0o755);

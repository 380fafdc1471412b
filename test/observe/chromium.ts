// Headless Debian chromium for the report tests: screenshots, the DOM after load, and the
// console messages the page produced (the report has no script, so any is a failure).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function findChromium(): string {
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('which', [c], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout.trim();
  }
  throw new Error('chromium not found: install the Debian package chromium (scripts/setup.sh does this when run as root)');
}

export interface BrowserRun {
  stdout: string;
  /** Console messages (chromium logs them as `...:CONSOLE:...] "text", source: ...`). */
  console: string[];
  ms: number;
}

export function chromium(args: string[], url: string, timeoutMs = 60_000): BrowserRun {
  const bin = findChromium();
  const profile = mkdtempSync(join(tmpdir(), 'telechat-chromium-'));
  try {
    const t0 = performance.now();
    const r = spawnSync(
      bin,
      ['--headless', '--disable-gpu', '--no-sandbox', '--hide-scrollbars', '--enable-logging=stderr', '--v=0', `--user-data-dir=${profile}`, ...args, url],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
    );
    const ms = performance.now() - t0;
    if (r.error) throw new Error(`chromium: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`chromium exited ${r.status}:\n${r.stderr.slice(-2000)}`);
    const consoleLines = r.stderr.split('\n').filter((l) => /:CONSOLE[:(]/.test(l));
    return { stdout: r.stdout, console: consoleLines, ms };
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

// npm run bench — every benchmark, one after the other, then docs/benchmarks.md from their
// results (report.ts). The benchmarks are the package's `bench:<name>` scripts: the known ones
// (core, train, comm, data, zero) in that order, then any other. A known one with no script yet
// is announced and listed in the doc as not available; a benchmark that fails or writes no
// bench-results/<name>.json fails the whole run (exit 1, the doc is left as it was).
//
// For each benchmark the exact command (with the BENCH_* variables in effect), start time,
// duration and the load average before and after go to bench-results/runs.json.
//
// Env: BENCH_ONLY=core,train runs only those (the doc still shows every result on disk, each
// with its own date and command).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../observe/files.js';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { benchCommand } from './env.js';
import { definedBenches, KNOWN_BENCHES, writeReport } from './report.js';
import type { RunRecord } from './report/result.js';

function main(): void {
  const defined = definedBenches();
  const ordered = [...KNOWN_BENCHES.filter((b) => defined.includes(b)), ...defined.filter((b) => !KNOWN_BENCHES.includes(b))];
  const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((s) => s.trim()) : null;
  for (const name of only ?? []) {
    if (!defined.includes(name)) throw new Error(`BENCH_ONLY names bench:${name}, which package.json does not define (defined: ${defined.join(', ')})`);
  }
  for (const name of KNOWN_BENCHES.filter((b) => !defined.includes(b))) {
    console.log(`bench: bench:${name} is not defined in package.json yet; listed as not available in docs/benchmarks.md`);
  }
  const toRun = only ? ordered.filter((b) => only.includes(b)) : ordered;
  const runsPath = join('bench-results', 'runs.json');
  mkdirSync('bench-results', { recursive: true });
  const runs = (existsSync(runsPath) ? JSON.parse(readFileSync(runsPath, 'utf8')) : {}) as Record<string, RunRecord>;
  const failures: string[] = [];
  for (const name of toRun) {
    const command = benchCommand(name);
    console.log(`\n==> ${command}`);
    const resultPath = join('bench-results', `${name}.json`);
    const before = existsSync(resultPath) ? statSync(resultPath).mtimeMs : 0;
    const started = new Date();
    const loadBefore = loadavg();
    const res = spawnSync('npm', ['run', '--silent', `bench:${name}`], { stdio: 'inherit', env: process.env });
    const seconds = (Date.now() - started.getTime()) / 1000;
    if (res.status !== 0) {
      failures.push(`bench:${name} exited with status ${res.status ?? res.signal}`);
      continue;
    }
    if (!existsSync(resultPath) || statSync(resultPath).mtimeMs === before) {
      failures.push(`bench:${name} finished but wrote no ${resultPath}`);
      continue;
    }
    runs[name] = {
      command,
      started: started.toISOString(),
      seconds,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      load_before: loadBefore,
      load_after: loadavg(),
    };
    writeFileAtomic(runsPath, JSON.stringify(runs, null, 2) + '\n');
  }
  if (failures.length) {
    console.error(`\nbench: ${failures.length} benchmark(s) failed; docs/benchmarks.md not updated:\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  const doc = writeReport();
  console.log(`\nbench: ${toRun.length} benchmark(s) run; ${doc} regenerated from bench-results/*.json`);
}

try {
  main();
} catch (e) {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}

// docs/benchmarks.md from bench-results/*.json, so every number in the doc comes from a
// rerunnable command: `npm run bench` (runs everything, then this) or `npm run bench:report`
// (this alone, over the results on disk). One section per benchmark, each with its date, the
// machine, the load average and the exact command; bench-results/runs.json (written by all.ts)
// supplies the command and load when the benchmark ran through `npm run bench`.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../observe/files.js';
import { commSection } from './report/comm.js';
import { coreSection } from './report/core.js';
import { dataSection } from './report/data.js';
import { exportSection } from './report/export.js';
import { provenance, table } from './report/format.js';
import { readResult, Result, type RunRecord } from './report/result.js';
import { trainSection } from './report/train.js';
import { zeroSection } from './report/zero.js';

/** The benchmarks of the project's issues, in the order `npm run bench` runs them. */
export const KNOWN_BENCHES = ['core', 'train', 'comm', 'data', 'zero'];

/** Scripts named bench:* that are tools, not benchmarks. */
const NOT_BENCHES = new Set(['report']);

/** The benchmarks ./package.json defines: its bench:* scripts, tools aside. */
export function definedBenches(): string[] {
  if (!existsSync('package.json')) return [];
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts?: Record<string, string> };
  return Object.keys(pkg.scripts ?? {})
    .filter((s) => s.startsWith('bench:'))
    .map((s) => s.slice('bench:'.length))
    .filter((s) => !NOT_BENCHES.has(s));
}

const RESULTS = 'bench-results';
const DOC = join('docs', 'benchmarks.md');

/** A result file nobody wrote a formatter for yet: its top-level numbers. */
function genericSection(r: Result): string {
  const rows = Object.entries(r.data).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, String(v)]);
  return rows.length ? table(['key', 'value'], rows) : `See ${r.file}.`;
}

/** A section: its title, its body, and the threads line of its provenance. */
const SECTIONS: Record<string, { title: string; render: (r: Result) => string; threads: (r: Result) => string | null }> = {
  core: { title: 'Model forward + backward (`npm run bench:core`)', render: coreSection, threads: (r) => `${r.num('machine.threads')} per side` },
  train: { title: 'Training step (`npm run bench:train`)', render: trainSection, threads: (r) => `${r.num('machine.threads')} per side` },
  comm: { title: 'Collectives (`npm run bench:comm`)', render: commSection,
    threads: (r) => `ours ${r.str('ours_threads')}, torch ${r.str('peer.threads')} per rank process` },
  data: { title: 'Dataset build (`npm run bench:data`)', render: dataSection,
    threads: (r) => `${Array.from({ length: r.len('by_threads') }, (_, i) => r.num(`by_threads.${i}.threads`)).join(' and ')} encoding threads, both sides` },
  zero: { title: 'ZeRO stages (`npm run bench:zero`)', render: zeroSection, threads: (r) => `${r.num('threads_per_rank')} per rank, ${r.num('ranks')} ranks` },
  export: { title: 'GGUF export (`npm run bench:export`)', render: exportSection, threads: () => null },
};

/**
 * The entry of bench-results/runs.json for `name`, if it is the run that wrote `file` (not an older
 * one before a direct rerun); its fields are checked as a result's are.
 */
function runFor(runs: Result, name: string, file: string): RunRecord | undefined {
  if (!runs.has(name)) return undefined;
  const load = (key: string): number[] => {
    const v = runs.nums(`${name}.${key}`);
    if (v.length !== 3) throw new Error(`${runs.file}: ${name}.${key} must hold the 1, 5 and 15-minute load averages, got ${JSON.stringify(v)}`);
    return v;
  };
  const run: RunRecord = {
    command: runs.str(`${name}.command`), started: runs.str(`${name}.started`), seconds: runs.num(`${name}.seconds`),
    cpu: runs.str(`${name}.cpu`), cores: runs.num(`${name}.cores`), load_before: load('load_before'), load_after: load('load_after'),
  };
  const start = Date.parse(run.started);
  if (Number.isNaN(start)) throw new Error(`${runs.file}: ${name}.started must be an ISO date, got ${JSON.stringify(run.started)}`);
  const written = statSync(file).mtimeMs;
  return written >= start && written <= start + (run.seconds + 5) * 1000 ? run : undefined;
}

/**
 * Markdown for every result in bench-results/, and a line for each known benchmark package.json
 * does not define yet. A benchmark it does define must have a result: bench-results/ is not in git,
 * so in a fresh checkout, or after running one benchmark alone there, the page would otherwise lose
 * the other sections (numbers and targets) to 'not available' and say nothing.
 */
export function renderReport(): string {
  const runsPath = join(RESULTS, 'runs.json');
  const runs = existsSync(runsPath) ? readResult(runsPath) : new Result(runsPath, {});
  const files = existsSync(RESULTS) ? readdirSync(RESULTS).filter((n) => n.endsWith('.json') && n !== 'runs.json') : [];
  const present = files.map((n) => n.slice(0, -'.json'.length));
  const missing = definedBenches().filter((n) => !present.includes(n));
  if (missing.length) {
    throw new Error(`no result for ${missing.map((n) => `bench:${n} (${RESULTS}/${n}.json)`).join(', ')}: the page would drop ` +
      `${missing.length === 1 ? 'its section' : 'their sections'}; run ${missing.map((n) => `npm run bench:${n}`).join(', ')} (or npm run bench) first`);
  }
  const names = [...KNOWN_BENCHES, ...present.filter((n) => !KNOWN_BENCHES.includes(n)).sort()];
  const parts = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench:report` from bench-results/*.json; `npm run bench` reruns every benchmark and then',
    'regenerates this file. Each section names its own date, machine, threads, load average and exact command, and the',
    'peer it compares with (exact versions, recorded at run time). The development machine is shared with other jobs: the',
    'load average says how much of its CPU the benchmark actually had. Every comparison alternates the sides over several',
    'launches so both see the same conditions, and each section says how a point is taken from them (core, comm, data,',
    'zero: the best launch; train: the median of its rounds). Every ratio set beside a target is rounded toward missing it',
    '(down for an at-least target, up for an at-most one), so a ratio shown as meeting its target meets it, and each ratio is',
    'checked against the two values it divides. The generator refuses, leaving this page as it was, a benchmark with no',
    'result, a result missing a side or measurement its targets need, one of another bench model or batch than the harness\'s',
    '(stale), and a malformed one.',
  ];
  for (const name of names) {
    const section = SECTIONS[name] ?? { title: `\`npm run bench:${name}\``, render: genericSection, threads: () => null };
    parts.push('', `## ${section.title}`, '');
    if (!present.includes(name)) {
      parts.push(`Not available: package.json defines no bench:${name} yet.`);
      continue;
    }
    const file = join(RESULTS, `${name}.json`);
    const r = readResult(file);
    parts.push(provenance(r, runFor(runs, name, file), section.threads(r)), '', section.render(r));
  }
  return parts.join('\n') + '\n';
}

/** Writes docs/benchmarks.md; returns its path. */
export function writeReport(): string {
  const text = renderReport(); // fully rendered before the file is touched
  writeFileAtomic(DOC, text); // a crash mid-write leaves the old page, never half of one
  return DOC;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    console.log(`${writeReport()} regenerated from ${RESULTS}/*.json`);
  } catch (e) {
    console.error(`bench:report: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}

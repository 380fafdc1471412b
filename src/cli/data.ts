#!/usr/bin/env node
// telechat-data: build a dataset dir from multi-turn jsonl, or inspect one.
import { helpWidth, integers, usageErrorLine, usageFail, yargs } from './yargs.js';
import { hideBin } from 'yargs/helpers';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { onInterrupt } from '../checkpoint/interrupt.js';
import { sweepKilledBeside, temporaryBeside } from '../checkpoint/temporaries.js';

import { buildDataset, DataError, type BuildProgress } from '../data/builder.js';
import { FORMATS, type FormatName } from '../data/formats.js';
import { manifestTokenizer, renderRow, summarize } from '../data/inspect.js';
import { DatasetReader } from '../data/reader.js';
import { TEMPLATES, type TemplateName } from '../data/templates.js';

function fail(e: unknown, verbose: boolean): never {
  const err = e as Error;
  process.stderr.write(`telechat-data: ${verbose && !(e instanceof DataError) ? (err.stack ?? err.message) : err.message}\n`);
  process.exit(1);
}

/** A one-line progress bar on a terminal: bytes done, tokens/s, ETA. */
function progressBar(): ((p: BuildProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  const t0 = Date.now();
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 200) return;
    last = now;
    const s = (now - t0) / 1000;
    const frac = p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : 0;
    const eta = frac > 0 ? `${(s * (1 / frac - 1)).toFixed(0)}s` : '?';
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    process.stderr.write(
      `\r[${bar}] ${(100 * frac).toFixed(1)}% ${p.conversations} conv ${Math.round(p.tokens / Math.max(s, 1e-3))} tok/s ETA ${eta} `,
    );
  };
}

async function build(argv: {
  input: string;
  model?: string;
  tokenizer?: string;
  output: string;
  'max-seq-len': number;
  template?: string;
  format: string;
  'loss-on': string;
  pack: boolean;
  'skip-bad': boolean;
  seed: number;
  'val-size'?: number;
  overwrite: boolean;
}): Promise<void> {
  if (argv.model !== undefined && argv.tokenizer !== undefined) {
    throw new DataError(
      'give one of --model DIR or --tokenizer DIR, not both (--model reads the tokenizer and the template from one dir; with a separate tokenizer use --tokenizer DIR --template NAME)',
    );
  }
  const dir = argv.tokenizer ?? argv.model;
  if (!dir) throw new DataError('one of --model DIR or --tokenizer DIR is required');
  // a build killed outright (SIGKILL, the OOM killer) leaves its temporary, as large as the
  // dataset: this host's dead ones beside --output are deleted first
  sweepKilledBeside(argv.output, 'telechat-data', 'a build');
  const temporary = temporaryBeside(argv.output);
  // Ctrl-C, SIGTERM or SIGHUP: the partial dataset goes, an existing --output stays as it was
  const release = onInterrupt((signal) => {
    rmSync(temporary, { recursive: true, force: true });
    process.stderr.write(`\ntelechat-data: stopped by ${signal}; the partial dataset is removed, nothing was written\n`);
  });
  const bar = progressBar();
  const m = await buildDataset({
    input: argv.input,
    tokenizerDir: dir,
    modelDir: argv.model,
    output: argv.output,
    maxSeqLen: argv['max-seq-len'],
    template: argv.template as TemplateName | undefined,
    format: argv.format as FormatName | 'auto',
    lossOn: argv['loss-on'] as 'all' | 'last',
    pack: argv.pack,
    skipBad: argv['skip-bad'],
    seed: argv.seed,
    valSize: argv['val-size'],
    overwrite: argv.overwrite,
    temporary,
    onProgress: bar,
  }).finally(release);
  if (bar) process.stderr.write('\n');
  process.stdout.write(`wrote ${argv.output}\n${summarize(m)}\n`);
}

async function inspect(argv: { dir: string; row?: number; tokenizer?: string; verify: boolean }): Promise<void> {
  // it only renders a row's text: given alone it would do nothing
  if (argv.tokenizer !== undefined && argv.row === undefined) usageFail('--tokenizer is only read with --row N (it renders that row\'s text)');
  const reader = DatasetReader.open(argv.dir); // checks every shard's size and sha256
  try {
    // a row the dataset does not have is bad input: refused before the stats are printed
    if (argv.row !== undefined && argv.row >= reader.numRows) {
      throw new DataError(`${argv.dir}: --row ${argv.row} out of range (dataset has ${reader.numRows} rows)`);
    }
    // the held-out split is part of the dir: its shards are checked (and with --verify its rows) too
    const val = reader.manifest.val !== undefined ? DatasetReader.open(join(argv.dir, 'val')) : undefined;
    try {
      process.stdout.write(summarize(reader.manifest) + '\n');
      if (argv.verify) {
        for (const [r, where] of [[reader, ''], ...(val ? [[val, 'val/: ']] : [])] as Array<[DatasetReader, string]>) {
          const rows = await r.checkAllRows();
          const m = r.manifest;
          process.stdout.write(`verified: ${where}${m.shards.length} shard(s) match manifest.json (size, sha256); ${rows} rows valid (ids < ${r.vocab})\n`);
        }
      }
    } finally {
      await val?.close();
    }
    if (argv.row === undefined) return;
    const tok = manifestTokenizer(reader.manifest, argv.tokenizer);
    try {
      const row = await reader.row(argv.row);
      process.stdout.write(
        `\nrow ${argv.row}: ${row.inputIds.length} tokens, ${row.docLens.length} document(s); loss-bearing tokens in [[ ]]` +
          (tok ? '' : ' (tokenizer not found: raw ids, loss ids starred)') +
          '\n' +
          (await renderRow(row, tok, process.stdout.isTTY === true)) +
          '\n',
      );
    } finally {
      tok?.close();
    }
  } finally {
    await reader.close();
  }
}

const argv = hideBin(process.argv);
const verbose = argv.includes('--verbose');

await yargs(argv)
  .scriptName('telechat-data')
  .wrap(helpWidth())
  .strict()
  .option('verbose', { type: 'boolean', default: false, describe: 'show stack traces on errors' })
  .command(
    'build',
    'tokenize multi-turn jsonl into a dataset dir (manifest.json + Arrow shards)',
    (y) =>
      y
        .option('input', { type: 'string', demandOption: true, describe: 'FILE[,FILE...] (.jsonl, or .json holding a JSON array of conversations as LLaMA-Factory ships them) or a mixing file MIX.json' })
        .option('model', { type: 'string', describe: 'model dir: tokenizer files and config.json (template); or --tokenizer, not both' })
        .option('tokenizer', { type: 'string', describe: 'tokenizer dir (tokenizer.model or tokenizer.json + configs); or --model, not both' })
        .option('output', { type: 'string', demandOption: true, describe: 'dataset dir to create' })
        .option('max-seq-len', { type: 'number', demandOption: true, describe: 'max tokens per row' })
        .option('template', { choices: TEMPLATES, describe: 'chat template (default: from the model config.json)' })
        .option('format', { choices: ['auto', ...FORMATS], default: 'auto', describe: 'input format (auto: per line)' })
        .option('loss-on', { choices: ['all', 'last'], default: 'all', describe: 'train on every answer or only the last' })
        .option('pack', { type: 'boolean', default: true, describe: 'best-fit pack conversations into rows (--no-pack: one per row)' })
        .option('skip-bad', { type: 'boolean', default: false, describe: 'skip bad lines, counted per reason in the manifest' })
        .option('seed', { type: 'number', default: 42, describe: 'seed for mixing-file resampling and the --val-size split' })
        .option('val-size', {
          type: 'number',
          describe: 'hold out a fraction (< 1) or a count (>= 1) of conversations, seeded by content hash, before packing, into DIR/val/ (the trainer\'s eval set)',
        })
        .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing output dir' })
        // the seed of src/data/rng.ts (any integer below 2^53) and of the --val-size hash
        .middleware(integers({ seed: { min: 0, max: Number.MAX_SAFE_INTEGER } }), true)
        .example(
          '$0 build --input data/sample-conversations.jsonl --tokenizer data/tokenizer --template telechat2 --output /tmp/ds --max-seq-len 512',
          'build the shipped sample set',
        )
        .example('$0 build --input convs.jsonl --model /models/TeleChat2-7B --output ds --max-seq-len 4096 --val-size 0.05', 'hold out 5% of conversations into ds/val/')
        .example('$0 build --input mix.json --model /models/TeleChat2-7B --output ds --max-seq-len 4096 --loss-on last', 'mixing file, model dir')
        .epilog('Ctrl-C / SIGTERM / SIGHUP: the partial dataset (a hidden temporary beside --output) is removed and the command exits 130 / 143 / 129; an existing output is left as it was. A build killed outright (SIGKILL, the OOM killer) leaves that temporary: the next build to the same output deletes it.'),
    async (a) => build(a as Parameters<typeof build>[0]),
  )
  .command(
    'inspect <dir>',
    'print a dataset dir\'s stats after checking its shards\' sha256 (val/\'s too); --row N renders a row with its loss tokens marked',
    (y) =>
      y
        .positional('dir', { type: 'string', describe: 'dataset dir' })
        .option('row', { type: 'number', describe: 'row index to render' })
        .middleware(integers({ row: { min: 0 } }), true)
        .option('tokenizer', { type: 'string', describe: 'tokenizer dir for --row, if it moved since the build' })
        .option('verify', {
          type: 'boolean',
          default: false,
          describe: 'also read and check every row, val/\'s too (ids in the vocabulary, labels -100 or the token, doc_lens); exit 1 naming shard and row',
        })
        .example('$0 inspect /tmp/ds --row 0', 'stats, then row 0 with [[loss tokens]] marked')
        .example('$0 inspect /tmp/ds --verify', 'check every shard and row'),
    async (a) => inspect(a as Parameters<typeof inspect>[0]),
  )
  .demandCommand(1, 'give a command: build or inspect')
  .example('$0 build --help', 'options of build')
  .help()
  .fail((msg, err) => {
    if (err) fail(err, verbose);
    // yargs's own words for a missing <dir> name no argument
    if (/^Not enough non-option arguments/.test(msg ?? '') && hideBin(process.argv)[0] === 'inspect') usageFail('inspect needs <dir>, a dataset dir');
    process.stderr.write(usageErrorLine('telechat-data', msg ?? '', hideBin(process.argv)) + '\n');
    process.exit(1);
  })
  .parseAsync()
  .catch((e: unknown) => fail(e, verbose));

#!/usr/bin/env node
// telechat-report: (re)write OUTPUT_DIR/report.html from what the run has written so far.
import { helpWidth, yargs } from './yargs.js';
import { hideBin } from 'yargs/helpers';
import { writeReport } from '../observe/report/index.js';

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('telechat-report')
    .usage(
      '$0 <output-dir>\n\n' +
        'Writes OUTPUT_DIR/report.html, one self-contained page (no network): curves of loss (train, eval), ' +
        'learning rate, gradient norm, tokens/s, MFU and memory by category; the run summary, the dataset\'s ' +
        'stats, the resolved config, and one training row with its loss tokens highlighted. Works on finished ' +
        'runs, crashed ones and ones still training; telechat-train also writes it at the end of every run.',
    )
    .positional('output-dir', { type: 'string', describe: 'a telechat-train output directory' })
    .demandCommand(1, 1, 'give the <output-dir> of a telechat-train run', 'give one <output-dir> only')
    .wrap(helpWidth())
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces on errors' })
    .example([
      ['$0 output/zero3', 'write output/zero3/report.html'],
      ['watch -n 60 $0 output/zero3', 'refresh the report of a run that is still training'],
    ])
    .strict()
    .help()
    .parse();
  try {
    const path = await writeReport(String(argv._[0]));
    process.stdout.write(`wrote ${path}\n`);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`telechat-report: ${argv.verbose ? (err.stack ?? err.message) : err.message}\n`);
    process.exit(1);
  }
}

void main();

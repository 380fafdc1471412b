#!/usr/bin/env node
// telechat-chat: chat with a TeleChat model in llama.cpp (node-llama-cpp): a .gguf, an HF dir
// or a training output dir (converted once to a cached GGUF). --prompt answers once and exits.
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { hideBin } from 'yargs/helpers';
import { ChatInputError, ChatSession, defaultThreads } from '../chat/session.js';
import { resolveModel } from '../chat/resolve_model.js';
import { helpWidth, integers, yargs } from './yargs.js';

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('telechat-chat')
    .usage(
      '$0 MODEL [--prompt TEXT] [--system TEXT] [--max-tokens N] [--temperature T] [--seed N]\n\n' +
        'Chats with a TeleChat model in llama.cpp, in the chat template it was trained with (recorded by telechat-train, else its config\'s); answers stream as they are generated and end at the model\'s end of turn. ' +
        'MODEL is a .gguf (telechat-export --format gguf), an HF TeleChat dir, or a training output dir (its final/); directories are converted once to an fp16 GGUF cached under ~/.cache/telechat-train/gguf (one file per directory: a conversion for a changed model or a rebuilt telechat-train deletes the older file). ' +
        'An answer also stops where the model\'s context (the length it was trained at, at most 8192 tokens) is full: it gets at most --max-tokens, and never more than the context leaves after the prompt (a line on stderr says so when that cut it); in a chat the oldest turns are forgotten first to leave room for --max-tokens, and a question too long to leave room for one answer token is an error. ' +
        'Runs on the GPU where llama.cpp finds one, else on the CPU. Without --prompt: an interactive chat (/reset forgets the conversation, /exit, /quit or Ctrl-D quits).',
    )
    .positional('MODEL', { type: 'string', describe: 'a .gguf file, an HF dir or an output dir' })
    .option('prompt', { type: 'string', describe: 'answer this one question and exit (for scripts)' })
    .option('system', { type: 'string', describe: 'system prompt' })
    .option('max-tokens', { type: 'number', default: 512, describe: 'most tokens in one answer (fewer where the context left after the prompt is shorter)' })
    .option('temperature', { type: 'number', default: 0.7, describe: 'sampling temperature (0 = greedy)' })
    .option('seed', { type: 'number', describe: 'sampling seed (reproducible answers)' })
    .middleware(integers({ seed: { min: 0, max: 2 ** 32 - 1 } }), true) // llama.cpp's seed is a uint32
    .option('threads', { type: 'number', describe: 'CPU threads for llama.cpp (default: OMP_NUM_THREADS when set, as the trainer, else the CPUs this process may use)' })
    .option('cpu', { type: 'boolean', default: false, describe: 'run on the CPU even where a GPU is present' })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces on errors' })
    .example([
      ['$0 output/my-run', 'chat with the model a training run ended with'],
      ['$0 model.gguf --prompt "What is ZeRO?" --temperature 0', 'one greedy answer, printed to stdout'],
    ])
    .demandCommand(1, 1, 'give one MODEL: a .gguf file, an HF dir or an output dir', 'give one MODEL only')
    .strict()
    .wrap(helpWidth())
    .help()
    .parse();
  const model = String(argv._[0]);
  let session: ChatSession | undefined;
  try {
    for (const [name, v] of [['max-tokens', argv.maxTokens], ['threads', argv.threads]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw new Error(`--${name} must be a positive integer, got ${v}`);
    }
    if (!(argv.temperature >= 0 && Number.isFinite(argv.temperature))) throw new Error(`--temperature must be a finite number >= 0, got ${argv.temperature}`);
    const { gguf } = await resolveModel(model, (line) => process.stderr.write(`telechat-chat: ${line}\n`));
    const threads = argv.threads ?? defaultThreads(process.env, availableParallelism());
    session = await ChatSession.open(gguf, { system: argv.system, maxTokens: argv.maxTokens, temperature: argv.temperature, seed: argv.seed, threads, cpu: argv.cpu });
    if (argv.prompt !== undefined) {
      await session.ask(argv.prompt, (t) => process.stdout.write(t));
      process.stdout.write('\n');
      contextNote(session);
    } else {
      await interactive(session);
    }
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`telechat-chat: ${argv.verbose ? (err.stack ?? err.message) : err.message}\n`);
    process.exitCode = 1;
  } finally {
    await session?.close();
  }
}

/** A line on stderr when the answer was cut by the full context rather than --max-tokens or its end. */
function contextNote(session: ChatSession): void {
  const a = session.lastAnswer;
  if (a?.end === 'context') process.stderr.write(`telechat-chat: the answer stopped after ${a.answerTokens} tokens, where the model's ${session.contextSize}-token context was full (the prompt took ${a.promptTokens})\n`);
}

async function interactive(session: ChatSession): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' });
  // readline's iterator queues the lines that arrive while an answer is generated (a paste,
  // piped questions) and ends at end of input once they are read: each is answered in turn
  const lines = rl[Symbol.asyncIterator]();
  // Ctrl-C in the terminal quits after the current answer, leaving lines typed ahead unanswered
  // (as readline's own Ctrl-C did, before the iterator queued them)
  let interrupted = false;
  rl.on('SIGINT', () => {
    interrupted = true;
    rl.close();
  });
  process.stdout.write(`telechat-chat: ${session.path} (${session.format} chat format). /reset forgets the conversation, /exit or Ctrl-D quits.\n`);
  try {
    for (;;) {
      if (interrupted) break;
      rl.prompt();
      const next = await lines.next();
      if (next.done || interrupted) break; // Ctrl-D / end of input / Ctrl-C
      const q = next.value.trim();
      if (q === '/exit' || q === '/quit') break;
      if (q === '/reset') {
        session.reset();
        process.stdout.write('(conversation cleared)\n');
        continue;
      }
      if (q === '') continue;
      try {
        await session.ask(q, (t) => process.stdout.write(t));
      } catch (e) {
        // a question the model cannot take is refused alone: the chat goes on, the exit status is 1
        if (!(e instanceof ChatInputError)) throw e;
        process.stderr.write(`telechat-chat: ${e.message}\n`);
        process.exitCode = 1;
        continue;
      }
      process.stdout.write('\n');
      contextNote(session);
    }
  } finally {
    rl.close();
  }
}

void main();

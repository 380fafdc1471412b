// A multi-turn chat with a TeleChat GGUF in llama.cpp (node-llama-cpp): the history is
// rendered with the model's chat format (telechat.chat_format in the file, the same strings
// as its Jinja tokenizer.chat_template), tokenized by llama.cpp from the file's vocabulary,
// and only the part of the prompt the context does not already hold is evaluated. An answer
// ends at the model's end of turn: the <_end> token (an end-of-generation token in llama.cpp)
// or, for 52B whose markers are text, the first stop string.
import { getLlama, Llama, LlamaLogLevel, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import type { TemplateName } from '../data/templates.js';
import { TEMPLATES } from '../data/templates.js';
import { type ChatMessage, renderChat, stopStrings } from '../data/chat_template.js';
import { checkGguf } from '../gguf/reader.js';
import { StopFilter } from './stop.js';

export interface ChatOptions {
  system?: string | undefined;
  maxTokens: number;
  temperature: number;
  seed?: number | undefined;
  threads?: number | undefined;
  /** Run on the CPU even where a GPU is present. */
  cpu: boolean;
}

/** How the last answer went: its prompt's and its own length in tokens, and why it ended. */
export interface AnswerStats {
  promptTokens: number;
  answerTokens: number;
  /** end: the model's end of turn; max-tokens: --max-tokens; context: the context was full. */
  end: 'end' | 'max-tokens' | 'context';
}

/**
 * llama.cpp's threads when --threads is not given: OMP_NUM_THREADS when set (as the trainer), else
 * the CPUs this process may use. llama.cpp's own default counts the machine's cores, and its
 * threads spin: on a shared or limited machine, more of them than the process may use run many
 * times slower.
 */
export function defaultThreads(env: NodeJS.ProcessEnv, available: number): number {
  const omp = Number(env.OMP_NUM_THREADS);
  return Number.isInteger(omp) && omp > 0 ? omp : available;
}

/**
 * Why llama.cpp could not load a model: its "error loading model: CAUSE" log line (e.g. "unknown
 * model architecture: 'x'"), else node-llama-cpp's error with llama.cpp's last line.
 */
export function loadFailureCause(log: readonly string[], err: Error): string {
  for (const line of [...log].reverse()) {
    const cause = /error loading model: (.+)$/.exec(line.trim())?.[1];
    if (cause) return cause;
  }
  const last = log.at(-1)?.trim();
  return last ? `${err.message} (${last})` : err.message;
}

/** The model sizes in a llama GGUF's metadata that must be positive. */
const LLAMA_SIZES = [
  'llama.context_length', 'llama.embedding_length', 'llama.block_count', 'llama.feed_forward_length',
  'llama.attention.head_count', 'llama.attention.head_count_kv', 'llama.rope.dimension_count',
] as const;

/** A question the model cannot take (too long for its context): the session is unchanged. */
export class ChatInputError extends Error {}

export class ChatSession {
  private messages: ChatMessage[] = [];
  /** Of the last `ask`; null before the first. */
  lastAnswer: AnswerStats | null = null;

  private constructor(
    readonly path: string,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
    readonly format: TemplateName,
    private readonly options: ChatOptions,
  ) {
    if (options.system !== undefined) this.messages.push({ role: 'system', content: options.system });
  }

  static async open(path: string, options: ChatOptions): Promise<ChatSession> {
    const info = checkGguf(path);
    const format = info.metadata.get('telechat.chat_format');
    if (format === undefined) {
      throw new Error(`${path}: no telechat.chat_format in the GGUF metadata (not written by telechat-export); re-export it with telechat-export --format gguf`);
    }
    if (typeof format !== 'string' || !(TEMPLATES as readonly string[]).includes(format)) {
      throw new Error(`${path}: telechat.chat_format ${JSON.stringify(format)} is not one of ${TEMPLATES.join(', ')}; re-export it with telechat-export --format gguf`);
    }
    // llama.cpp asserts (aborts the process) on a zero among these instead of refusing the file
    for (const key of LLAMA_SIZES) {
      const v = info.metadata.get(key);
      if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
        throw new Error(`${path}: corrupt GGUF metadata: ${key} is ${JSON.stringify(v)}, not a positive whole number`);
      }
    }
    // llama.cpp's log while loading is kept, not printed: the cause of a failure goes into the one
    // error sentence instead of raw "[node-llama-cpp] llama_model_load: ..." lines; later errors print as before
    const loadLog: string[] = [];
    let loading = true;
    const logger = (level: LlamaLogLevel, message: string): void => (loading ? void loadLog.push(message) : Llama.defaultConsoleLogger(level, message));
    const llama = await getLlama({ gpu: options.cpu ? false : 'auto', build: 'never', logLevel: LlamaLogLevel.error, logger });
    let model: LlamaModel | undefined;
    try {
      model = await llama.loadModel({ modelPath: path });
      const trained = Number(info.metadata.get('llama.context_length') ?? 4096);
      const context = await model.createContext({ contextSize: Math.min(trained, 8192), ...(options.threads ? { threads: options.threads } : {}) });
      loading = false;
      return new ChatSession(path, llama, model, context, context.getSequence(), format as TemplateName, options);
    } catch (err) {
      await new Promise((resolve) => setImmediate(resolve)); // log lines still on their way from llama.cpp's thread
      await model?.dispose();
      await llama.dispose();
      throw new Error(`${path}: llama.cpp cannot load it: ${loadFailureCause(loadLog, err as Error)}`);
    }
  }

  /** Tokens the model's context holds (prompt and answer together). */
  get contextSize(): number {
    return this.context.contextSize;
  }

  /** Forgets the conversation (the system prompt stays). */
  reset(): void {
    this.messages.splice(this.options.system !== undefined ? 1 : 0);
  }

  private tokenize(text: string): Token[] {
    // 52B's markers are text: special-token parsing off, so "<_user>" is never a control id
    return this.model.tokenize(text, this.format !== 'telechat-52b');
  }

  /**
   * The prompt for the history plus `question`, and how many tokens the answer may have:
   * --max-tokens, or what the context leaves after the prompt when that is less (generation
   * stops where the context is full, as llama.cpp's CLI does). The oldest turns are dropped
   * while the prompt leaves less than --max-tokens, or than half the context when --max-tokens
   * is more (else a --max-tokens beyond the context would forget every turn); the history keeps
   * them until the question is asked: a refused question leaves it as it was. A question (with
   * the system prompt and the chat template) that leaves no room for one answer token is a
   * ChatInputError.
   */
  private prompt(question: string): { tokens: Token[]; maxTokens: number; kept: ChatMessage[] } {
    const ctx = this.context.contextSize;
    const reserve = Math.min(this.options.maxTokens, Math.floor(ctx / 2));
    const kept = [...this.messages];
    for (;;) {
      const tokens = this.tokenize(renderChat(this.format, [...kept, { role: 'user', content: question }], true));
      const room = ctx - tokens.length;
      const first = kept.findIndex((m) => m.role !== 'system');
      if (room >= reserve || (first < 0 && room >= 1)) return { tokens, maxTokens: Math.min(this.options.maxTokens, room), kept };
      if (first < 0) {
        const what = this.options.system !== undefined ? 'the system prompt and the question take' : 'the question takes';
        throw new ChatInputError(`${what} ${tokens.length} tokens with the chat template, which leaves no room for an answer in the model's ${ctx}-token context: shorten it`);
      }
      kept.splice(first, kept[first + 1]?.role === 'assistant' ? 2 : 1);
    }
  }

  /** Answers `question`, streaming text through `onText`; the turn joins the history. */
  async ask(question: string, onText: (text: string) => void): Promise<string> {
    const { tokens, maxTokens, kept } = this.prompt(question);
    // keep what the context already holds of this prompt; evaluate the rest (at least the last token)
    await this.sequence.adaptStateToTokens(tokens, false);
    let start = Math.min(this.sequence.nextTokenIndex, tokens.length - 1);
    if (start < this.sequence.nextTokenIndex) await this.sequence.eraseContextTokenRanges([{ start, end: this.sequence.nextTokenIndex }]);
    start = this.sequence.nextTokenIndex;
    const filter = new StopFilter(stopStrings(this.format));
    const generated: Token[] = [];
    const options = { temperature: this.options.temperature, ...(this.options.seed !== undefined ? { seed: this.options.seed } : {}) };
    for await (const t of this.sequence.evaluate(tokens.slice(start), options)) {
      generated.push(t);
      const text = filter.update(this.model.detokenize(generated, false));
      if (text) onText(text);
      if (filter.stopped || generated.length >= maxTokens) break;
    }
    this.lastAnswer = {
      promptTokens: tokens.length,
      answerTokens: generated.length,
      end: filter.stopped || generated.length < maxTokens ? 'end' : maxTokens < this.options.maxTokens ? 'context' : 'max-tokens',
    };
    const rest = filter.flush();
    if (rest) onText(rest);
    const answer = filter.text;
    this.messages = [...kept, { role: 'user', content: question }, { role: 'assistant', content: answer }];
    return answer;
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

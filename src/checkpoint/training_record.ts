// What a fine-tune carries to inference beyond its weights and the base's config: the chat
// template its rows were built with and the length its rotary tables were evaluated at
// (training.max_seq_len; the NTK base and mscale of src/model/rope.ts). Both are written by the
// run beside config.json in every HF dir it saves (final/, checkpoint-N/hf/, a LoRA run's
// adapter dirs) as telechat_training.json, and the template also as tokenizer_config.json's
// `chat_template` (Jinja, what transformers' apply_chat_template and LLaMA-Factory read). The
// GGUF export (and so telechat-chat) reads the record; without one it falls back to the config.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEMPLATES, templateFromConfig, type TemplateName } from '../data/templates.js';
import { jinjaChatTemplate } from '../data/chat_template.js';
import { CheckpointError } from './hf.js';

export const TRAINING_RECORD_FILE = 'telechat_training.json';

export interface TrainingRecord {
  /** The template the run's rows were built with (the dataset manifest's). */
  chat_template: TemplateName;
  /** training.max_seq_len: the length the rotary tables were evaluated at. */
  max_seq_len: number;
}

export function trainingRecordJson(r: TrainingRecord): string {
  return JSON.stringify({ format: 'telechat-training', version: 1, chat_template: r.chat_template, max_seq_len: r.max_seq_len }, null, 2) + '\n';
}

/** The record in `dir`, or null when there is none; a malformed one is an error naming the file and key. */
export function readTrainingRecord(dir: string): TrainingRecord | null {
  const path = join(dir, TRAINING_RECORD_FILE);
  if (!existsSync(path)) return null;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read: ${(err as Error).message}`);
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new CheckpointError(`${path}: not a JSON object`);
  if (j['format'] !== 'telechat-training' || j['version'] !== 1) {
    throw new CheckpointError(`${path}: format must be "telechat-training" version 1, got ${JSON.stringify(j['format'])} version ${JSON.stringify(j['version'])}`);
  }
  const t = j['chat_template'];
  if (typeof t !== 'string' || !(TEMPLATES as readonly string[]).includes(t)) {
    throw new CheckpointError(`${path}: chat_template must be one of ${TEMPLATES.join(', ')}, got ${JSON.stringify(t)}`);
  }
  const n = j['max_seq_len'];
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) throw new CheckpointError(`${path}: max_seq_len must be a positive integer, got ${JSON.stringify(n)}`);
  return { chat_template: t as TemplateName, max_seq_len: n };
}

/**
 * `baseDir`'s tokenizer_config.json with `chat_template` set to the trained template's Jinja
 * (added last when absent; every other key kept in order), or one holding only that key when the
 * base has none.
 */
export function tokenizerConfigWithTemplate(baseDir: string, template: TemplateName): string {
  const path = join(baseDir, 'tokenizer_config.json');
  let config: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new CheckpointError(`${path}: cannot read: ${(err as Error).message}`);
    }
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new CheckpointError(`${path}: not a JSON object`);
  }
  return JSON.stringify({ ...config, chat_template: jinjaChatTemplate(template) }, null, 2) + '\n';
}

/**
 * Whether the base's own chat template files (tokenizer_config.json's `chat_template`,
 * chat_template.jinja / .json) stay as they are in a dir the run writes: when the run trained in
 * the template the base is served with (its own record's, else the one its config implies) and
 * the base carries one. Tele-AI's own Jinja (tool calls and all) is then kept, and the file is not
 * rewritten; otherwise tokenizer_config.json gets the trained template's Jinja.
 */
export function keepsBaseTemplate(baseDir: string, trained: TemplateName): boolean {
  let served = readTrainingRecord(baseDir)?.chat_template;
  if (served === undefined) {
    const configPath = join(baseDir, 'config.json');
    if (!existsSync(configPath)) return false;
    try {
      served = templateFromConfig(JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>);
    } catch {
      return false;
    }
  }
  if (served !== trained) return false;
  if (existsSync(join(baseDir, 'chat_template.jinja')) || existsSync(join(baseDir, 'chat_template.json'))) return true;
  const tokPath = join(baseDir, 'tokenizer_config.json');
  if (!existsSync(tokPath)) return false;
  try {
    const t = (JSON.parse(readFileSync(tokPath, 'utf8')) as Record<string, unknown>).chat_template;
    return typeof t === 'string' || Array.isArray(t);
  } catch {
    return false;
  }
}

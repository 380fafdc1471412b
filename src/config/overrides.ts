// Command-line overrides, applied to the parsed file before validation (so they are checked
// like the file, and errors name the flag): first every `--set dotted.key=JSON`, then the
// dedicated flags (--max-steps, --epochs, ...), which win over the file.
import { ConfigError } from './errors.js';
import { isObject, type Json, type JsonObject } from './validate.js';

export interface SetOverride {
  /** The dotted key as written. */
  key: string;
  path: string[];
  value: Json;
}

/** Parses `a.b.c=VALUE`; VALUE is JSON when it parses, else the literal string. */
export function parseSetArg(arg: string): SetOverride {
  const eq = arg.indexOf('=');
  const key = eq < 0 ? '' : arg.slice(0, eq).trim();
  const path = key.split('.');
  if (eq < 0 || key === '' || path.some((p) => p === '')) {
    throw new ConfigError(`--set ${arg}: expected dotted.key=VALUE (VALUE as JSON, e.g. --set zero_optimization.stage=2)`);
  }
  const text = arg.slice(eq + 1);
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    value = text;
  }
  return { key, path, value };
}

/**
 * Writes each override into a copy of `cfg`, creating intermediate objects as needed; the keys
 * `sameSetting` names for it (another spelling of the same setting, e.g. PEFT's lora_alpha for
 * lora.alpha) are removed, so the override wins over the file whichever spelling each uses.
 */
export function applySets(cfg: JsonObject, sets: readonly SetOverride[], sameSetting: (path: readonly string[], cfg: JsonObject) => string[] = () => []): JsonObject {
  const out = structuredClone(cfg);
  for (const s of sets) {
    let node: JsonObject = out;
    for (let i = 0; i < s.path.length - 1; i++) {
      const key = s.path[i]!;
      // a block the file spells otherwise (bfloat16 for a --set bf16.enabled=true) is the one set
      const other = node[key] === undefined ? sameSetting(s.path.slice(0, i + 1), out).find((k) => node[k] !== undefined) : undefined;
      if (other !== undefined) {
        node[key] = node[other]!;
        delete node[other];
      }
      const next = node[key];
      if (next === undefined) node[key] = {};
      else if (!isObject(next)) {
        throw new ConfigError(`--set ${s.key}: "${s.path.slice(0, i + 1).join('.')}" is ${JSON.stringify(next)}, not an object`);
      }
      node = node[key] as JsonObject;
    }
    for (const other of sameSetting(s.path, out)) delete node[other];
    node[s.path[s.path.length - 1]!] = structuredClone(s.value);
  }
  return out;
}

/**
 * Flags of telechat-train that map onto config keys. The numeric ones may be given as typed
 * (a string): a number is read from it, and anything else reaches validation as that string, so
 * the error echoes it (`--max-steps: ... got "abc"`) instead of a NaN the parser made of it.
 */
export interface ConfigFlags {
  maxSteps?: number | string;
  epochs?: number | string;
  seed?: number | string;
  outputDir?: string;
  maxSeqLen?: number | string;
  model?: string;
  modelConfig?: string;
  init?: string;
  data?: string;
  evalData?: string;
}

/** flag -> [its command-line spelling, the dotted key it sets]. */
export const FLAG_KEYS: Record<keyof ConfigFlags, [string, string]> = {
  maxSteps: ['--max-steps', 'training.max_steps'],
  epochs: ['--epochs', 'training.epochs'],
  seed: ['--seed', 'training.seed'],
  outputDir: ['--output-dir', 'training.output_dir'],
  maxSeqLen: ['--max-seq-len', 'training.max_seq_len'],
  model: ['--model', 'model.path'],
  modelConfig: ['--model-config', 'model.config'],
  init: ['--init', 'model.init'],
  data: ['--data', 'data.path'],
  evalData: ['--eval-data', 'training.eval_data'],
};

const NUMERIC_FLAGS = new Set<keyof ConfigFlags>(['maxSteps', 'epochs', 'seed', 'maxSeqLen']);
/** A number as typed in decimal (8, -1, +.5, 2.5e-3, spaces around): not 0x10, Infinity or 1_000, which Number() also reads. */
export const DECIMAL_TEXT = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

export function flagOverrides(flags: ConfigFlags): { flag: string; set: SetOverride }[] {
  const out: { flag: string; set: SetOverride }[] = [];
  for (const [name, [flag, key]] of Object.entries(FLAG_KEYS) as [keyof ConfigFlags, [string, string]][]) {
    const v = flags[name];
    if (v === undefined) continue;
    const value = NUMERIC_FLAGS.has(name) && typeof v === 'string' && DECIMAL_TEXT.test(v) ? Number(v) : v;
    out.push({ flag, set: { key, path: key.split('.'), value } });
  }
  return out;
}

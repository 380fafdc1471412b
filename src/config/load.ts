// The one entry point: file -> --set overrides -> flags -> legacy upgrade -> validation ->
// "auto" resolution -> ResolvedConfig. Errors name the file (or flag) and the key at fault.
import { ConfigError, NO_CONFIG, type Warnings } from './errors.js';
import { readJsonFile } from './json_file.js';
import { upgradeLegacyForms } from './legacy.js';
import { applySets, flagOverrides, parseSetArg, type ConfigFlags, type SetOverride } from './overrides.js';
import { resolveConfig, type ResolveContext } from './resolve.js';
import { CONFIG } from './schema.js';
import type { ResolvedConfig } from './types.js';
import { canonicalPath, isObject, sameSettingKeys, Validator, type JsonObject, type Origin } from './validate.js';

export interface LoadOptions {
  /** `--set dotted.key=JSON` arguments, in command-line order. */
  sets?: readonly string[];
  /** Dedicated flags; they win over the file and over --set. */
  flags?: ConfigFlags;
  /** Facts of the run that "auto" needs (world size, hidden size, dataset rows, HF args). */
  context?: ResolveContext;
}

export interface LoadedConfig {
  config: ResolvedConfig;
  /** Legacy forms rewritten, deprecated names, accepted-but-ignored keys. */
  warnings: Warnings;
}

/** Loads and resolves a config file; `path` null = no file (every default). */
export function loadConfig(path: string | null, opts: LoadOptions = {}): LoadedConfig {
  const raw = path === null ? {} : readJsonFile(path);
  return resolveConfigObject(raw, path ?? NO_CONFIG, opts);
}

/** Same as loadConfig for an already parsed object; `where` names it in errors. */
export function resolveConfigObject(raw: unknown, where: string, opts: LoadOptions = {}): LoadedConfig {
  if (!isObject(raw)) throw new ConfigError(`${where}: a config must be a JSON object`);
  const sets = (opts.sets ?? []).map(parseSetArg);
  const flags = flagOverrides(opts.flags ?? {});
  const warnings: Warnings = [];
  // Legacy forms are upgraded in the file first (so --set zero_optimization.stage=2 works on a
  // file saying "zero_optimization": true) and again after the overrides (which may use them).
  const file = upgradeLegacyForms(withoutComments(raw), () => where, warnings);
  const sameSetting = (path: readonly string[], at: JsonObject): string[] => sameSettingKeys(CONFIG, path, at);
  let cfg = applySets(file, sets, sameSetting);
  cfg = applySets(cfg, flags.map((f) => f.set), sameSetting);
  const origin = originOf(where, file, sets, flags, (key) => canonicalPath(CONFIG, key.split('.'), cfg).join('.'));
  cfg = withDefaultOptimizerType(file, cfg);
  cfg = upgradeLegacyForms(cfg, origin, warnings);
  const validator = new Validator(CONFIG, origin);
  const validated = validator.object(CONFIG, cfg, '');
  warnings.push(...validator.warnings);
  // optimizer.params.lr given as a number (a file or --set), not a default or "auto": resolve.ts
  // says so when the schedule sets its own lr
  const opt = cfg['optimizer'];
  const lrGiven = isObject(opt) && isObject(opt['params']) && typeof opt['params']['lr'] === 'number';
  const config = resolveConfig(validated, origin, opts.context ?? {}, warnings, { hadActivationCheckpointing: cfg['activation_checkpointing'] !== undefined, lrGiven });
  const epochs = isObject(cfg['training']) ? cfg['training']['epochs'] : undefined;
  const maxSteps = config.training.max_steps;
  if (epochs !== undefined && maxSteps !== null) {
    // max_steps wins over epochs (as in HF TrainingArguments): epochs given as well say nothing
    warnings.push(
      `${origin('training.epochs')}: "training.epochs": ${JSON.stringify(epochs)} has no effect: "training.max_steps" ${maxSteps} ` +
        `(${origin('training.max_steps')}) sets the run length and wins over epochs (unset training.max_steps to train by epochs)`,
    );
  }
  return { config, warnings };
}

/**
 * `--set optimizer.params.lr=2e-5` on a file without an optimizer block (TeleChat's and
 * LLaMA-Factory's DeepSpeed configs have none) tunes the optimizer the run uses without one:
 * AdamW unless a --set names the type, each setting not given as without the block ("auto":
 * Hugging Face's defaults). A block the file has keeps its own rules (a missing "type" there is
 * an error, a setting not given takes the type's default).
 */
function withDefaultOptimizerType(file: JsonObject, cfg: JsonObject): JsonObject {
  const opt = cfg['optimizer'];
  if ('optimizer' in file || !isObject(opt)) return cfg;
  const given = isObject(opt['params']) ? opt['params'] : {};
  return { ...cfg, optimizer: { type: 'AdamW', ...opt, params: { lr: 'auto', betas: 'auto', eps: 'auto', weight_decay: 'auto', ...given } } };
}

/** Top-level keys starting with "_" are comments (LLaMA-Factory writes "_comment"), not settings. */
function withoutComments(raw: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(raw).filter(([key]) => !key.startsWith('_')));
}

/** The resolved config as written to resolved-config.json. */
export function resolvedConfigJson(config: ResolvedConfig): string {
  return JSON.stringify(config, null, 2) + '\n';
}

/**
 * Who to blame for a dotted key: the last override that wrote it (or a block above it), else the
 * first override that created a block on its way (`--set foo.bar=1` on a file without "foo" is
 * to blame for the unknown key "foo", and `--set scheduler.params.warmup_num_steps=...` for the
 * missing "scheduler.type"), else the file.
 */
function originOf(where: string, file: JsonObject, sets: SetOverride[], flags: { flag: string; set: SetOverride }[], canonical: (key: string) => string): Origin {
  // each override's key as written and in the schema's spelling: messages name a setting either way
  // (lora.alpha, or the alias lora.lora_alpha a warning quotes, for a --set of lora.lora_alpha)
  const both = (key: string, who: string): [string, string][] => [[key, who], [canonical(key), who]];
  const blames: [string, string][] = [
    ...sets.flatMap((s) => both(s.key, `--set ${s.key}`)),
    ...flags.flatMap((f) => both(f.set.key, f.flag)),
  ];
  return (path: string) => {
    for (let i = blames.length - 1; i >= 0; i--) {
      const [key, who] = blames[i]!;
      if (path === key || path.startsWith(key + '.')) return who;
    }
    const parts = path.split('.');
    for (let n = 1; n <= parts.length; n++) {
      const block = parts.slice(0, n).join('.');
      if (inFile(file, parts.slice(0, n))) continue;
      const creator = blames.find(([key]) => key.startsWith(block + '.'));
      if (creator) return creator[1];
      break;
    }
    return where;
  };
}

function inFile(file: JsonObject, path: string[]): boolean {
  let node: unknown = file;
  for (const key of path) {
    if (!isObject(node) || !(key in node)) return false;
    node = node[key];
  }
  return true;
}

// The one entry point: file -> --set overrides -> flags -> legacy upgrade -> validation ->
// "auto" resolution -> ResolvedConfig. Errors name the file (or flag) and the key at fault.
import { ConfigError, type Warnings } from './errors.js';
import { readJsonFile } from './json_file.js';
import { upgradeLegacyForms } from './legacy.js';
import { applySets, flagOverrides, parseSetArg, type ConfigFlags, type SetOverride } from './overrides.js';
import { resolveConfig, type ResolveContext } from './resolve.js';
import { CONFIG } from './schema.js';
import type { ResolvedConfig } from './types.js';
import { isObject, Validator, type JsonObject, type Origin } from './validate.js';

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
  return resolveConfigObject(raw, path ?? '<built-in defaults>', opts);
}

/** Same as loadConfig for an already parsed object; `where` names it in errors. */
export function resolveConfigObject(raw: unknown, where: string, opts: LoadOptions = {}): LoadedConfig {
  if (!isObject(raw)) throw new ConfigError(`${where}: a config must be a JSON object`);
  const sets = (opts.sets ?? []).map(parseSetArg);
  const flags = flagOverrides(opts.flags ?? {});
  const origin = originOf(where, sets, flags);
  const warnings: Warnings = [];
  // Legacy forms are upgraded in the file first (so --set zero_optimization.stage=2 works on a
  // file saying "zero_optimization": true) and again after the overrides (which may use them).
  let cfg = upgradeLegacyForms(withoutComments(raw), () => where, warnings);
  cfg = applySets(cfg, sets);
  cfg = applySets(cfg, flags.map((f) => f.set));
  cfg = upgradeLegacyForms(cfg, origin, warnings);
  const validator = new Validator(CONFIG, origin);
  const validated = validator.object(CONFIG, cfg, '');
  warnings.push(...validator.warnings);
  const config = resolveConfig(validated, origin, opts.context ?? {}, warnings, cfg['activation_checkpointing'] !== undefined);
  return { config, warnings };
}

/** Top-level keys starting with "_" are comments (LLaMA-Factory writes "_comment"), not settings. */
function withoutComments(raw: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(raw).filter(([key]) => !key.startsWith('_')));
}

/** The resolved config as written to resolved-config.json. */
export function resolvedConfigJson(config: ResolvedConfig): string {
  return JSON.stringify(config, null, 2) + '\n';
}

/** Later overrides win, so the last one covering a key is the one to blame. */
function originOf(where: string, sets: SetOverride[], flags: { flag: string; set: SetOverride }[]): Origin {
  const blames: [string, string][] = [...sets.map((s): [string, string] => [s.key, `--set ${s.key}`]), ...flags.map((f): [string, string] => [f.set.key, f.flag])];
  return (path: string) => {
    for (let i = blames.length - 1; i >= 0; i--) {
      const [key, who] = blames[i]!;
      if (path === key || path.startsWith(key + '.')) return who;
    }
    return where;
  };
}

// Public surface of the config layer.
export { ConfigError, type Warnings } from './errors.js';
export { loadConfig, resolveConfigObject, resolvedConfigJson, type LoadOptions, type LoadedConfig } from './load.js';
export { parseSetArg, FLAG_KEYS, type ConfigFlags, type SetOverride } from './overrides.js';
export { HF_DEFAULTS, DEFAULT_STEPS_PER_PRINT, DEFAULT_MAX_SEQ_LEN, type DatasetFacts, type HfArgs, type ResolveContext } from './resolve.js';
export { inferBatch, type BatchTriple } from './batch.js';
export { editDistance, closest } from './suggest.js';
export type * from './types.js';

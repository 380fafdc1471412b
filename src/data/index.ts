// The data layer's surface for the trainer and the CLI.
export { buildDataset, DataError, type BuildOptions, type BuildProgress } from './builder.js';
export { IGNORE_INDEX, type LossOn } from './encode.js';
export { FORMATS, type FormatName } from './formats.js';
export { readManifest, type Manifest, type SourceStats } from './manifest.js';
export { DatasetReader, type Row } from './reader.js';
export { Sampler, type SamplerConfig } from './sampler.js';
export { TEMPLATES, templateFromConfig, type TemplateName } from './templates.js';
export { loadTokenizer, Tokenizer, type SpecialIds, type SpecialName } from './tokenizer.js';
export { resolveDataset, type ResolveOptions, type ResolvedDataset } from './resolve.js';

// Hugging Face `tokenizer.json` support (TeleChat 7B's byte-level BPE). Not implemented yet:
// loading one is a clear error rather than a silent fallback.
import type { TokenizerBackend } from './tokenizer.js';

export const HfTokenizer = {
  load(path: string): TokenizerBackend {
    throw new Error(`${path}: tokenizer.json tokenizers are not supported yet; use a directory with tokenizer.model`);
  },
};

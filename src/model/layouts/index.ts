// Picks the checkpoint layout for a model spec. For the v1/TeleChat2 layout the name prefix
// ("transformer." or none, as in the 7B checkpoint) is read off the checkpoint's names.
import type { ModelSpec } from '../spec.js';
import type { CheckpointLayout } from './layout.js';
import { telechatLayout } from './telechat.js';
import { telechat52bLayout } from './telechat52b.js';

export type { CheckpointLayout, TensorMap } from './layout.js';

export function checkpointLayout(spec: ModelSpec, tensorNames?: Iterable<string>): CheckpointLayout {
  if (spec.layout === 'telechat-52b') return telechat52bLayout(spec);
  let prefix = 'transformer.';
  if (tensorNames) {
    const names = [...tensorNames];
    if (names.includes('word_embeddings.weight') || names.some((n) => n.startsWith('h.'))) prefix = '';
  }
  return telechatLayout(spec, prefix);
}

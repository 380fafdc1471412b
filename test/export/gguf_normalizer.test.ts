// A SentencePiece tokenizer that normalizes its input (an NFKC charsmap, squeezed whitespace):
// our tokenizer applies it (the SentencePiece library does), llama.cpp's SentencePiece ("llama")
// tokenizer does not (it reads neither the charsmap nor remove_extra_whitespaces), so the GGUF
// tokenizes such text differently from the ids the model was trained on. The export says so in
// warnings naming the file; the shipped (identity) tokenizer gives none. TeleChat's own
// tokenizers normalize nothing (docs/data.md), so this is for other SentencePiece models.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportHf } from '../../src/checkpoint/hf_export.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { initRandom } from '../../src/model/init.js';
import { buildParamTable, FlatParams } from '../../src/model/params.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { DType, MemCategory } from '../../src/native/tensor.js';
import { loadGguf } from '../helpers/llama.js';
import { runPythonJson } from '../helpers/python.js';
import { runAsync } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const EXPORT_CLI = resolve('dist/cli/export.js');
const tmp = makeTmpDir('gguf-normalizer');
afterAll(() => tmp.cleanup());

const CONFIG = {
  architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: 64, n_layer: 1, n_head: 4, num_key_value_heads: 2,
  ffn_hidden_size: 96, vocab_size: 4096, layer_norm_epsilon: 1e-5, tie_word_embeddings: false, training_seqlen: 64, base_seqlen: 64,
};

/** An HF dir with random weights for CONFIG and the tokenizer files of `tokDir`. */
function modelDir(name: string, tokDir: string, files: string[]): string {
  const base = join(tmp.dir, `${name}-base`);
  mkdirSync(base);
  for (const f of files) copyFileSync(join(tokDir, f), join(base, f));
  writeFileSync(join(base, 'config.json'), JSON.stringify(CONFIG));
  const spec = parseModelSpec(CONFIG);
  const params = new FlatParams(buildParamTable(spec), DType.F32, MemCategory.Params);
  const dir = join(tmp.dir, name);
  try {
    initRandom(params, 0.02, 1);
    exportHf(params, spec, base, dir, { dtype: 'fp32' });
  } finally {
    params.free();
  }
  return dir;
}

let nfkc: string;
let shipped: string;

beforeAll(() => {
  const tokDir = join(tmp.dir, 'tok');
  mkdirSync(tokDir);
  runPythonJson<Record<string, never>>(
    `import io, json, sys, sentencepiece as spm
req = json.load(sys.stdin)
model = io.BytesIO()
lines = ["the quick brown fox jumps over the lazy dog", "fine full width ABC 123", "squeezed runs of spaces"] * 20
spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=300,
    hard_vocab_limit=False, byte_fallback=True, normalization_rule_name="nmt_nfkc", remove_extra_whitespaces=True,
    num_threads=1, minloglevel=2)
open(req["out"], "wb").write(model.getvalue())
print("{}")`,
    { out: join(tokDir, 'tokenizer.model') },
  );
  nfkc = modelDir('nfkc', tokDir, ['tokenizer.model']);
  shipped = modelDir('shipped', 'data/tiny-model', ['tokenizer.model', 'tokenizer_config.json']);
}, 120_000);

describe('GGUF export of a SentencePiece tokenizer that normalizes', () => {
  it('warns, naming the file and what llama.cpp skips; llama.cpp indeed tokenizes such text otherwise', async () => {
    const out = join(tmp.dir, 'nfkc.gguf');
    const r = await runAsync([EXPORT_CLI, '--model', nfkc, '--format', 'gguf', '--output', out]);
    expect(r.status, r.stderr).toBe(0);
    const file = join(nfkc, 'tokenizer.model');
    expect(r.stderr).toBe(
      `telechat-export: warning: ${file}: the tokenizer normalizes text (a precompiled charsmap, e.g. NFKC) and squeezes whitespace runs; ` +
        "llama.cpp's SentencePiece tokenizer does neither, so text they change (full-width characters, runs of spaces) tokenizes differently in llama.cpp than in training\n",
    );
    // what the warning says: the same texts, other ids
    const vocab = await loadGguf(out, true);
    const tok = loadTokenizer(nfkc);
    try {
      for (const text of ['ＡＢＣ １２３', 'squeezed    runs']) {
        expect(vocab.tokenize(text, false).map(Number), text).not.toEqual(Array.from(tok.encode(text)));
      }
      // text normalization leaves alone tokenizes the same: the GGUF itself is right
      expect(vocab.tokenize('the quick brown fox', false).map(Number)).toEqual(Array.from(tok.encode('the quick brown fox')));
    } finally {
      tok.close();
      await vocab.dispose();
    }
  });

  it('the shipped tokenizer (identity normalization, whitespace kept): no warning', async () => {
    const r = await runAsync([EXPORT_CLI, '--model', shipped, '--format', 'gguf', '--output', join(tmp.dir, 'shipped.gguf')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});

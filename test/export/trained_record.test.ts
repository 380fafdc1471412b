// What a fine-tune carries out of training into inference (docs/export.md, "What a run records"):
// a tiny TeleChat2-shaped model (training_seqlen 128, base_seqlen 64) trained with the NON-default
// template `telechat` (v1's; its config picks telechat2) and training.max_seq_len 256, twice its
// training_seqlen (NTK alpha 7 and mscale 1 + 0.1 ln 2 where the config's own length gives alpha 3).
//   - final/ and the checkpoint's hf/ record both (telechat_training.json) and hold the trained
//     template as tokenizer_config.json's chat_template (the shipped file's telechat2 one replaced)
//   - a GGUF of final/ or of the checkpoint says telechat (chat_template and chat_format), and
//     context_length 256 with the NTK base at 256
//   - telechat-chat on the run dir converts final/ into a GGUF that says telechat
//   - llama.cpp running that GGUF gives the next-token distributions of our own fp32 forward at
//     max_seq_len 256 (the frequencies training used) over 200 teacher-forced positions, past
//     training_seqlen: max |p_llama.cpp - p_ours| <= 1e-4, gguf_parity.test.ts's tolerance
//   - a LoRA run over that final/ with the third template (telechat-52b) records its own in its
//     adapter dirs and merged final/, and GGUFs of either (merged on the way) say so
//   - a record of the default case (config's template, max_seq_len <= training_seqlen) gives a
//     GGUF byte-identical to one of a dir without a record; a malformed record is one error
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { TRAINING_RECORD_FILE } from '../../src/checkpoint/training_record.js';
import { buildDataset } from '../../src/data/builder.js';
import { encodeConversations } from '../../src/data/encode.js';
import { getTemplate } from '../../src/data/templates.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { jinjaChatTemplate } from '../../src/data/chat_template.js';
import { exportGguf } from '../../src/gguf/export.js';
import { checkGguf } from '../../src/gguf/reader.js';
import { CheckpointCanonicalSource, HfCanonicalSource, LoraMergedSource, type CanonicalSource } from '../../src/gguf/sources.js';
import { ropeParams } from '../../src/model/rope.js';
import { TelechatModel } from '../../src/model/model.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType } from '../../src/native/tensor.js';
import { GGUF_LAYOUTS } from '../helpers/gguf_fixture.js';
import { loadGguf, sampleConversations, softmax } from '../helpers/llama.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { runAsync, runTrain, zeroConfig } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('trained-record');
afterAll(() => tmp.cleanup());

const MAX_SEQ_LEN = 256;
const STEPS = 20;
const POSITIONS = 200;
const PROB_TOL = 1e-4;

const out = join(tmp.dir, 'run');
const final = join(out, 'final');
const ckptHf = join(out, `checkpoint-${String(STEPS).padStart(6, '0')}`, 'hf');
const baseTokConfig = JSON.parse(readFileSync('data/tiny-model/tokenizer_config.json', 'utf8')) as Record<string, unknown>;

function exportFrom(src: CanonicalSource, name: string): string {
  try {
    return exportGguf(src, join(tmp.dir, name), 'fp32').path;
  } finally {
    src.close();
  }
}

beforeAll(async () => {
  const modelDir = join(tmp.dir, 'model');
  mkdirSync(modelDir, { recursive: true });
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(modelDir, f));
  writeFileSync(join(modelDir, 'config.json'), JSON.stringify(GGUF_LAYOUTS.telechat2));
  const data = join(tmp.dir, 'data');
  await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: modelDir, output: data, maxSeqLen: MAX_SEQ_LEN, template: 'telechat', seed: 1 });
  const optimizer = { type: 'AdamW', params: { lr: 2e-2, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.01 } };
  await runTrain({ modelConfig: join(modelDir, 'config.json'), data }, out, 1, zeroConfig(0, 12, 1, STEPS, { optimizer }, { max_seq_len: MAX_SEQ_LEN, save_steps: 0 }), 29790);
}, 300_000);

describe('a run records its chat template and trained length', () => {
  it.each([['final/', final], ['checkpoint hf/', ckptHf]])('%s: telechat_training.json and tokenizer_config.json chat_template', (_, dir) => {
    expect(JSON.parse(readFileSync(join(dir, TRAINING_RECORD_FILE), 'utf8'))).toEqual({ format: 'telechat-training', version: 1, chat_template: 'telechat', max_seq_len: MAX_SEQ_LEN });
    const tok = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    // the shipped file's TeleChat2 template is replaced by the trained one; every other key is kept
    expect(baseTokConfig['chat_template']).not.toBe(jinjaChatTemplate('telechat'));
    expect(tok).toEqual({ ...baseTokConfig, chat_template: jinjaChatTemplate('telechat') });
  });

  it('a GGUF of final/ or of the checkpoint carries the trained template, length and NTK base', () => {
    const spec = loadHfSpec(final);
    const want = ropeParams(spec.rope, spec.headDim, MAX_SEQ_LEN);
    expect(want.base).not.toBe(ropeParams(spec.rope, spec.headDim, spec.rope.trainingSeqlen).base);
    for (const [name, src] of [['final', new HfCanonicalSource(final)], ['ckpt', new CheckpointCanonicalSource(out)]] as const) {
      const md = checkGguf(exportFrom(src, `${name}.gguf`)).metadata;
      expect(md.get('telechat.chat_format')).toBe('telechat');
      expect(md.get('tokenizer.chat_template')).toBe(jinjaChatTemplate('telechat'));
      expect(md.get('llama.context_length')).toBe(MAX_SEQ_LEN);
      expect(md.get('llama.rope.freq_base')).toBe(Math.fround(want.base));
    }
  });

  it('telechat-chat on the run dir answers from a conversion of final/ in the trained template (the key its session reads)', async () => {
    const home = join(tmp.dir, 'home');
    mkdirSync(home);
    const r = await runAsync(['dist/cli/chat.js', out, '--prompt', 'hello', '--max-tokens', '2', '--temperature', '0', '--cpu', '--threads', '1'], { HOME: home });
    expect(r.status, r.stderr).toBe(0);
    const cache = join(home, '.cache', 'telechat-train', 'gguf');
    const files = readdirSync(cache).filter((f) => f.endsWith('.gguf'));
    expect(files).toHaveLength(1);
    const md = checkGguf(join(cache, files[0]!)).metadata;
    expect(md.get('telechat.chat_format')).toBe('telechat');
    expect(md.get('llama.context_length')).toBe(MAX_SEQ_LEN);
  }, 120_000);

  it(`llama.cpp matches our forward at max_seq_len ${MAX_SEQ_LEN} over ${POSITIONS} positions`, async () => {
    const spec = loadHfSpec(final);
    const tok = loadTokenizer(final);
    const convs = sampleConversations();
    const ids: number[] = [];
    // consecutive conversations in the trained template until the sequence passes training_seqlen
    for (let i = 0; ids.length < POSITIONS; i++) ids.push(...encodeConversations(tok, getTemplate('telechat'), [convs[i]!], 'all')[0]!.ids);
    tok.close();
    ids.length = POSITIONS;
    expect(POSITIONS).toBeGreaterThan(spec.rope.trainingSeqlen);
    const ours = new TelechatModel(spec, cpuBackend, { dtype: DType.F32, gradDtype: DType.F32, maxTokens: MAX_SEQ_LEN, maxSeqLen: MAX_SEQ_LEN, recompute: false });
    let logits: Float32Array;
    try {
      loadHfWeights(final, spec, ours.params);
      logits = ours.forward([{ inputIds: ids, labels: ids.map(() => -100), docLens: [ids.length] }], true).logits!;
    } finally {
      ours.free();
    }
    const model = await loadGguf(exportFrom(new HfCanonicalSource(final), 'parity.gguf'));
    try {
      const ctx = await model.createContext({ contextSize: MAX_SEQ_LEN, batchSize: MAX_SEQ_LEN, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false, threads: 1 });
      try {
        const options = { temperature: 1, topK: spec.vocab, topP: 1, minP: 0 };
        const res = await ctx.getSequence().controlledEvaluate(ids.map((t) => [t as Token, { generateNext: { probabilities: true, options } }]));
        let worst = 0;
        let worstBefore = 0;
        res.forEach((r, p) => {
          const mine = softmax(logits.subarray(p * spec.vocab, (p + 1) * spec.vocab));
          const theirs = new Float64Array(spec.vocab);
          for (const [t, pr] of r!.next.probabilities!) theirs[t] = pr;
          let d = 0;
          for (let v = 0; v < spec.vocab; v++) d = Math.max(d, Math.abs(mine[v]! - theirs[v]!));
          worst = Math.max(worst, d);
          if (p < spec.rope.trainingSeqlen) worstBefore = Math.max(worstBefore, d);
        });
        console.log(`max |p_llama.cpp - p_ours| over ${POSITIONS} positions: ${worst.toExponential(2)} (first ${spec.rope.trainingSeqlen}: ${worstBefore.toExponential(2)})`);
        expect(worst).toBeLessThanOrEqual(PROB_TOL);
      } finally {
        await ctx.dispose();
      }
    } finally {
      await model.dispose();
    }
  }, 120_000);

  it('a LoRA run records its own: in adapter/ and the checkpoint\'s, in the merged final/, in GGUFs of either', async () => {
    // over the run above (whose final/ records telechat at 256), with the third template at 128
    const data = join(tmp.dir, 'data-52b');
    await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: final, output: data, maxSeqLen: 128, template: 'telechat-52b', seed: 1 });
    const lora = join(tmp.dir, 'lora');
    const cfg = { ...zeroConfig(0, 12, 1, 4, {}, { max_seq_len: 128, save_steps: 0 }), lora: { r: 2, lora_alpha: 4, target_modules: ['query', 'key_value'] } };
    await runTrain({ modelConfig: '', data, model: final }, lora, 1, cfg, 29791);
    const record = { format: 'telechat-training', version: 1, chat_template: 'telechat-52b', max_seq_len: 128 };
    for (const dir of [join(lora, 'adapter'), join(lora, 'checkpoint-000004', 'adapter'), join(lora, 'final')]) {
      expect(JSON.parse(readFileSync(join(dir, TRAINING_RECORD_FILE), 'utf8')), dir).toEqual(record);
    }
    expect(JSON.parse(readFileSync(join(lora, 'final', 'tokenizer_config.json'), 'utf8'))).toEqual({ ...baseTokConfig, chat_template: jinjaChatTemplate('telechat-52b') });
    const spec = loadHfSpec(final);
    for (const [name, src] of [['lora-final', new HfCanonicalSource(join(lora, 'final'))], ['lora-ckpt', new LoraMergedSource(join(lora, 'adapter'), null, () => {})]] as const) {
      const md = checkGguf(exportFrom(src, `${name}.gguf`)).metadata;
      expect(md.get('telechat.chat_format'), name).toBe('telechat-52b');
      expect(md.get('llama.context_length'), name).toBe(spec.rope.trainingSeqlen);
      expect(md.get('llama.rope.freq_base'), name).toBe(Math.fround(ropeParams(spec.rope, spec.headDim, 128).base));
    }
  }, 120_000);

  it('a record of the default case changes no byte of the GGUF', () => {
    // the same dir name: the GGUF's general.name is taken from it
    const bare = join(tmp.dir, 'bare', 'model');
    const dflt = join(tmp.dir, 'default', 'model');
    for (const d of [bare, dflt]) cpSync(final, d, { recursive: true });
    rmSync(join(bare, TRAINING_RECORD_FILE));
    writeFileSync(join(dflt, TRAINING_RECORD_FILE), JSON.stringify({ format: 'telechat-training', version: 1, chat_template: 'telechat2', max_seq_len: 96 }));
    const a = readFileSync(exportFrom(new HfCanonicalSource(bare), 'bare.gguf'));
    const b = readFileSync(exportFrom(new HfCanonicalSource(dflt), 'default.gguf'));
    expect(checkGguf(join(tmp.dir, 'bare.gguf')).metadata.get('telechat.chat_format')).toBe('telechat2');
    expect(b.equals(a)).toBe(true);
  });

  it('a run continuing the fine-tune in another template or at a shorter length warns, naming the setting that keeps it (--dry-run too)', async () => {
    const record = join(final, TRAINING_RECORD_FILE);
    const dry = (extra: string[]) => runAsync(['dist/cli/train.js', '--config', 'configs/zero3.json', '--model', final, '--data', 'data/sample-conversations.jsonl',
      '--output-dir', join(tmp.dir, 'continue'), '--dry-run', ...extra]);
    // the config picks telechat2 and 128 rows here: both differ from the record (telechat, 256)
    const other = await dry(['--max-seq-len', '128', '--set', 'data.max_seq_len=128']);
    expect(other.status, other.stderr).toBe(0);
    expect(other.stdout + other.stderr).toContain(`warning: ${record}: the base was fine-tuned in the telechat template, and this run builds its rows in telechat2; build them in it ("data.template": "telechat", or telechat-data build --template) to keep the one it is served with`);
    expect(other.stdout + other.stderr).toContain(`warning: ${record}: the base was fine-tuned with its rotary tables at length 256, and this run's training.max_seq_len 128 evaluates them at another length (other frequencies); set "training.max_seq_len": 256 to keep them`);
    const same = await dry(['--max-seq-len', '256', '--set', 'data.max_seq_len=256', '--set', 'data.template="telechat"']);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout + same.stderr).not.toContain('the base was fine-tuned');
  });

  it('a malformed record is one error naming the file and key', () => {
    const bad = join(tmp.dir, 'bad');
    cpSync(final, bad, { recursive: true });
    const path = join(bad, TRAINING_RECORD_FILE);
    writeFileSync(path, JSON.stringify({ format: 'telechat-training', version: 1, chat_template: 'chatml', max_seq_len: 256 }));
    expect(() => exportFrom(new HfCanonicalSource(bad), 'bad.gguf')).toThrow(`${path}: chat_template must be one of telechat, telechat2, telechat-52b, got "chatml"`);
    writeFileSync(path, JSON.stringify({ format: 'telechat-training', version: 1, chat_template: 'telechat', max_seq_len: 0 }));
    expect(() => exportFrom(new HfCanonicalSource(bad), 'bad.gguf')).toThrow(`${path}: max_seq_len must be a positive integer, got 0`);
  });
});

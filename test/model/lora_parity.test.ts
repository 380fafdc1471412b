// LoRA training against an independent PyTorch reference (scripts/reference/lora_ref.py:
// autograd on A and B over a frozen base, PEFT's forward written out): 20 AdamW steps from an
// adapter with non-zero A and B, for each layout and fused target (key_value interleaved per
// kv head, 52B Conv1D c_attn and both c_proj), with LoRA dropout on one layout. fp32: per-step
// loss within 1e-5 relative of PyTorch fp32. Final adapters: within 1e-5 of the same reference
// run in float64, and no further from it than 2x PyTorch fp32 is (plus 1e-6, a tenth of the
// bound, as PyTorch's own distance depends on its BLAS and threads). AdamW divides by sqrt(v), so
// an element with a small gradient carries its rounding far: on the 7B-style case with dropout
// each fp32 side ends a few e-6 from the fp64 run (PyTorch fp32 7e-6, ours 3e-6; the other cases
// 1e-7 to 4e-7), so a bound on the two fp32 sides' difference would mostly measure PyTorch's
// rounding there, not ours.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adapterTensorValues, loadAdapterWeights, writeAdapterDir } from '../../src/checkpoint/peft.js';
import { mergeAdapter } from '../../src/checkpoint/lora_merge.js';
import { HfTensorSource, loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { initDistributed } from '../../src/distributed/init.js';
import { buildHostBatch, type Row } from '../../src/model/batch.js';
import { loraScale, loraTargets, type LoraTarget } from '../../src/model/lora.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType } from '../../src/native/tensor.js';
import { unitOf } from '../../src/zero/partition.js';
import { ZeroEngine } from '../../src/zero/zero_engine.js';
import { LAYOUT_CONFIGS } from '../helpers/layouts.js';
import { PYTHON, runPython } from '../helpers/python.js';
import { spawn } from 'node:child_process';
import { randInt, rng } from '../helpers/random.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('lora-parity');
afterAll(() => tmp.cleanup());

const STEPS = 20;
const R = 4;
const ALPHA = 8;
const LR = 2e-3;
const WD = 0.01;
const MAX_SEQ = 40;

interface Case { layout: string; targets: string[]; dropout: number }
const CASES: Case[] = [
  { layout: 'telechat2_gqa_untied', targets: ['all-linear'], dropout: 0 },
  { layout: 'telechat_7b_style_tied_noprefix', targets: ['key_value', 'down_proj'], dropout: 0.1 },
  { layout: 'telechat_52b_style', targets: ['c_attn', 'c_proj'], dropout: 0 },
];

function stepRows(vocab: number, step: number): Array<Row & { globalRow: number }> {
  const r = rng(100 + step);
  const row = (docLens: number[], globalRow: number) => {
    const n = docLens.reduce((a, b) => a + b, 0);
    const inputIds = Array.from({ length: n }, () => randInt(r, vocab));
    return { inputIds, labels: inputIds.map((id, i) => (i % 5 < 3 ? id : -100)), docLens, globalRow };
  };
  return [row([9, 14], 2 * step), row([17], 2 * step + 1)];
}

function setup(c: Case, tag = '') {
  const dir = join(tmp.dir, c.layout + tag);
  writeFileSync(join(tmp.dir, `${c.layout}${tag}.json`), JSON.stringify(LAYOUT_CONFIGS[c.layout]));
  runPython('scripts/reference/telechat_ref.py', ['init', '--config', join(tmp.dir, `${c.layout}${tag}.json`), '--out', dir, '--seed', '7', '--std', '0.1']);
  const spec = loadHfSpec(dir);
  const src = new HfTensorSource(dir);
  const names = [...src.names()];
  src.close();
  const targets = loraTargets(spec, { targetModules: c.targets }, names);
  // a starting adapter with non-zero A and B (B = 0 would hide key_value's row order)
  const r = rng(55);
  const values = new Map<LoraTarget, { a: Float32Array; b: Float32Array }>();
  for (const t of targets) {
    values.set(t, {
      a: Float32Array.from({ length: R * t.in }, () => (r() - 0.5) * 0.2),
      b: Float32Array.from({ length: t.out * R }, () => (r() - 0.5) * 0.2),
    });
  }
  const adapter = join(dir, 'adapter0');
  writeAdapterDir(adapter, { cfg: { r: R, alpha: ALPHA, dropout: c.dropout, targetModules: c.targets }, targets, values, baseModel: dir, conv1d: spec.layout === 'telechat-52b' });
  return { dir, spec, targets, adapter, values };
}

/** The reference without blocking the test worker's event loop (a long synchronous child starves vitest's RPC). */
function runRef(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['scripts/reference/lora_ref.py', ...args], { env: { ...process.env, OMP_NUM_THREADS: '2' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => (status === 0 ? resolve() : reject(new Error(`lora_ref.py exited ${status}:\n${stderr}`))));
  });
}

async function refLosses(dir: string, adapter: string, targets: LoraTarget[], c: Case, dtype: 'fp32' | 'bf16'): Promise<number[]> {
  const out = join(dir, `ref-${dtype}.json`);
  await runRef([
    '--model', dir, '--adapter', join(adapter, 'adapter_model.safetensors'), '--r', String(R), '--alpha', String(ALPHA),
    '--targets', targets.map((t) => t.path).join(','), '--steps', join(dir, 'steps.json'), '--out', out,
    '--final', join(dir, `ref-final-${dtype}.safetensors`), '--lr', String(LR), '--weight-decay', String(WD), '--max-seq-len', String(MAX_SEQ),
    '--lora-dropout', String(c.dropout), '--dropout-seed', '11', '--dtype', dtype,
  ]);
  return (JSON.parse(readFileSync(out, 'utf8')) as { loss: number[] }).loss;
}

// The merge of telechat-export (and final/) recomputed from the HF tensors alone: W + s B A for
// nn.Linear modules, W + s (B A)^T for 52B's Conv1D ([in, out]) ones, within 1e-6.
describe('merging an adapter into its base', () => {
  it.each(CASES)('$layout, targets $targets', (c) => {
    const { dir, targets, adapter, values, spec } = setup(c, '-merge');
    const out = join(dir, 'merged');
    mergeAdapter(adapter, dir, out, 'fp32', (m) => { throw new Error(`unexpected warning: ${m}`); });
    const base = new SafetensorsReader(join(dir, 'model.safetensors'));
    const merged = new SafetensorsReader(join(out, 'model.safetensors'));
    const s = loraScale({ r: R, alpha: ALPHA });
    let worst = 0;
    for (const t of targets) {
      const W = base.readFloat32(t.weight);
      const M = merged.readFloat32(t.weight);
      const { a, b } = values.get(t)!;
      for (let o = 0; o < t.out; o++) {
        for (let i = 0; i < t.in; i++) {
          let d = 0;
          for (let k = 0; k < R; k++) d += b[o * R + k]! * a[k * t.in + i]!;
          const at = t.conv1d ? i * t.out + o : o * t.in + i;
          worst = Math.max(worst, Math.abs(M[at]! - (W[at]! + s * d)));
        }
      }
    }
    // every other tensor is the base's, byte for byte
    for (const name of base.tensors.keys()) {
      if (targets.some((t) => t.weight === name)) continue;
      expect(Buffer.from(merged.readBytes(name)).equals(Buffer.from(base.readBytes(name))), name).toBe(true);
    }
    base.close();
    merged.close();
    expect(targets.some((t) => t.conv1d)).toBe(spec.layout === 'telechat-52b');
    expect(worst).toBeLessThan(1e-6);
  }, 60_000);
});

describe('LoRA training parity with PyTorch (fp32, 20 steps)', () => {
  it.each(CASES)('$layout, targets $targets, dropout $dropout', async (c) => {
    const { dir, spec, targets, adapter, values } = setup(c);
    // B read back in PEFT order equals what was written (key_value permutation round trip)
    const steps = Array.from({ length: STEPS }, (_, s) => stepRows(spec.vocab, s));
    writeFileSync(join(dir, 'steps.json'), JSON.stringify({ steps: steps.map((rows) => ({ rows: rows.map((x) => ({ input_ids: x.inputIds, labels: x.labels, doc_lens: x.docLens, global_row: x.globalRow })) })) }));
    await runRef([
      '--model', dir, '--adapter', join(adapter, 'adapter_model.safetensors'), '--r', String(R), '--alpha', String(ALPHA),
      '--targets', targets.map((t) => t.path).join(','), '--steps', join(dir, 'steps.json'), '--out', join(dir, 'ref.json'),
      '--final', join(dir, 'ref-final.safetensors'), '--lr', String(LR), '--weight-decay', String(WD), '--max-seq-len', String(MAX_SEQ),
      '--lora-dropout', String(c.dropout), '--dropout-seed', '11',
    ]);
    const ref = JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8')) as { loss: number[] };

    const group = initDistributed({ env: {} });
    const engine = new ZeroEngine({
      stage: 0, comm: group.world, spec, be: cpuBackend,
      model: { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 64, maxSeqLen: MAX_SEQ, recompute: false, dropoutSeed: 11, lora: { targets, r: R, scale: loraScale({ r: R, alpha: ALPHA }), dropout: c.dropout } },
      hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: WD, adamWMode: true }, noDecay: ['norm', 'bias'],
      overlapComm: false, prefetch: false, persistenceThreshold: 0,
    });
    let worstLoss = 0;
    try {
      engine.initBase((views, unit) => loadHfWeights(dir, spec, views, (n) => unitOf(engine.baseTable!, n) === unit));
      engine.initParams((views, unit) => loadAdapterWeights(adapter, targets, R, views, (t) => unitOf(engine.table, t.a) === unit));
      engine.forEachWholeUnit((views, unit) => {
        for (const t of targets) {
          if (unitOf(engine.table, t.a) !== unit) continue;
          const v = adapterTensorValues(t, R, views);
          expect(Buffer.from(v.b.buffer).equals(Buffer.from(values.get(t)!.b.buffer)), `${t.path} B round trip`).toBe(true);
        }
      });
      for (let s = 0; s < STEPS; s++) {
        const host = buildHostBatch(steps[s]!);
        host.origin = { step: s + 1, rows: Int32Array.from(steps[s]!.map((x) => x.globalRow)) };
        const loss = engine.microStep(host, 1 / host.labelCount, true);
        engine.step({ step: s + 1, lr: LR, maxGradNorm: 0, lossScale: 1 });
        const ours = loss.lossSum / loss.count;
        const rel = Math.abs(ours - ref.loss[s]!) / ref.loss[s]!;
        worstLoss = Math.max(worstLoss, rel);
        expect(rel, `step ${s + 1}: ${ours} vs ${ref.loss[s]}`).toBeLessThan(1e-5);
      }
      await runRef([
        '--model', dir, '--adapter', join(adapter, 'adapter_model.safetensors'), '--r', String(R), '--alpha', String(ALPHA),
        '--targets', targets.map((t) => t.path).join(','), '--steps', join(dir, 'steps.json'), '--out', join(dir, 'ref64.json'),
        '--final', join(dir, 'ref64-final.safetensors'), '--lr', String(LR), '--weight-decay', String(WD), '--max-seq-len', String(MAX_SEQ),
        '--lora-dropout', String(c.dropout), '--dropout-seed', '11', '--dtype', 'fp64',
      ]);
      const refFinal = new SafetensorsReader(join(dir, 'ref-final.safetensors'));
      const ref64 = new SafetensorsReader(join(dir, 'ref64-final.safetensors'));
      let worst = 0, oursFrom64 = 0, torchFrom64 = 0;
      engine.forEachWholeUnit((views, unit) => {
        for (const t of targets) {
          if (unitOf(engine.table, t.a) !== unit) continue;
          const v = adapterTensorValues(t, R, views);
          const p = `base_model.model.${t.path}`;
          for (const [ours, part] of [[v.a, 'lora_A'], [v.b, 'lora_B']] as const) {
            const theirs = refFinal.readFloat32(`${p}.${part}.weight`), exact = ref64.readFloat32(`${p}.${part}.weight`);
            for (let i = 0; i < ours.length; i++) {
              worst = Math.max(worst, Math.abs(ours[i]! - theirs[i]!));
              oursFrom64 = Math.max(oursFrom64, Math.abs(ours[i]! - exact[i]!));
              torchFrom64 = Math.max(torchFrom64, Math.abs(theirs[i]! - exact[i]!));
            }
          }
        }
      });
      refFinal.close();
      ref64.close();
      console.log(`${c.layout}: max relative loss difference ${worstLoss.toExponential(2)}, max adapter difference ${worst.toExponential(2)}; from fp64: ours ${oursFrom64.toExponential(2)}, torch ${torchFrom64.toExponential(2)}`);
      // the adapters against the exact (fp64) trajectory within 1e-5, and no further from it than
      // twice PyTorch fp32's own distance; ours vs PyTorch fp32 is at most the sum of the two
      expect(oursFrom64).toBeLessThan(1e-5);
      expect(oursFrom64).toBeLessThanOrEqual(2 * torchFrom64 + 1e-6);
    } finally {
      engine.free();
      group.close?.();
    }
  }, 120_000);
});

// bf16 (parameters and activations in bf16, fp32 gradients, masters and moments, as the trainer's
// bf16 block): no exact reference exists, so the bound is derived from PyTorch's own bf16 error.
// The fp32 reference is the truth; PyTorch in bf16 (bf16 base, adapters cast from fp32 masters
// for each forward, products summed in fp32 and rounded once on any CPU: telechat_model.py's mm) errs by e_torch = RMS over the 20 steps of |loss_bf16 - loss_fp32|; ours
// must err by at most 2 e_torch (the same kind of bound as test/model/parity.test.ts), plus 1e-4
// of the loss for the case where PyTorch's error is accidentally tiny.
describe('LoRA training in bf16 (20 steps)', () => {
  it('per-step loss error vs the fp32 reference within 2x PyTorch bf16\'s own', async () => {
    const c: Case = { layout: 'telechat2_gqa_untied', targets: ['query', 'key_value', 'down_proj'], dropout: 0 };
    const { dir, spec, targets, adapter } = setup({ ...c, layout: c.layout }, 'bf16');
    const steps = Array.from({ length: STEPS }, (_, s) => stepRows(spec.vocab, s));
    writeFileSync(join(dir, 'steps.json'), JSON.stringify({ steps: steps.map((rows) => ({ rows: rows.map((x) => ({ input_ids: x.inputIds, labels: x.labels, doc_lens: x.docLens, global_row: x.globalRow })) })) }));
    const [truth, torch16] = await Promise.all([refLosses(dir, adapter, targets, c, 'fp32'), refLosses(dir, adapter, targets, c, 'bf16')]);
    const group = initDistributed({ env: {} });
    const engine = new ZeroEngine({
      stage: 0, comm: group.world, spec, be: cpuBackend,
      model: { dtype: DType.BF16, gradDtype: DType.F32, maxTokens: 64, maxSeqLen: MAX_SEQ, recompute: false, dropoutSeed: 11, lora: { targets, r: R, scale: loraScale({ r: R, alpha: ALPHA }), dropout: 0 } },
      hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: WD, adamWMode: true }, noDecay: ['norm', 'bias'],
      overlapComm: false, prefetch: false, persistenceThreshold: 0,
    });
    const ours: number[] = [];
    try {
      engine.initBase((views, unit) => loadHfWeights(dir, spec, views, (n) => unitOf(engine.baseTable!, n) === unit));
      engine.initParams((views, unit) => loadAdapterWeights(adapter, targets, R, views, (t) => unitOf(engine.table, t.a) === unit));
      for (let s = 0; s < STEPS; s++) {
        const host = buildHostBatch(steps[s]!);
        const loss = engine.microStep(host, 1 / host.labelCount, true);
        engine.step({ step: s + 1, lr: LR, maxGradNorm: 0, lossScale: 1 });
        ours.push(loss.lossSum / loss.count);
      }
    } finally {
      engine.free();
    }
    const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
    const eTorch = rms(torch16.map((v, i) => v - truth[i]!));
    const eOurs = rms(ours.map((v, i) => v - truth[i]!));
    console.log(`bf16 LoRA: RMS loss error vs fp32 reference: ours ${eOurs.toExponential(2)}, PyTorch bf16 ${eTorch.toExponential(2)}`);
    expect(eOurs).toBeGreaterThan(0); // bf16 really ran
    expect(eOurs).toBeLessThanOrEqual(2 * eTorch + 1e-4 * truth[0]!);
  }, 120_000);
});

// Activation recompute refills each block from its saved input during backward, with the same
// residual and adapter dropout masks (regenerated from their keys) and the block's discarded
// output in dln: the adapters' training must come out bit for bit as without recompute.
describe('LoRA under activation recompute', () => {
  it('all-linear, adapter dropout 0.1 and residual dropout 0.1: 3 steps bitwise equal to no recompute', () => {
    const c: Case = { layout: 'telechat2_gqa_untied', targets: ['all-linear'], dropout: 0.1 };
    const { spec, targets, adapter, dir, values } = setup(c, '-recompute');
    const run = (recompute: boolean): { losses: number[]; adapters: Buffer[] } => {
      const group = initDistributed({ env: {} });
      const engine = new ZeroEngine({
        stage: 0, comm: group.world, spec, be: cpuBackend,
        model: { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 64, maxSeqLen: MAX_SEQ, recompute, hiddenDropout: 0.1, dropoutSeed: 11,
          lora: { targets, r: R, scale: loraScale({ r: R, alpha: ALPHA }), dropout: c.dropout } },
        hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: WD, adamWMode: true }, noDecay: ['norm', 'bias'],
        overlapComm: false, prefetch: false, persistenceThreshold: 0,
      });
      try {
        engine.initBase((views, unit) => loadHfWeights(dir, spec, views, (n) => unitOf(engine.baseTable!, n) === unit));
        engine.initParams((views, unit) => loadAdapterWeights(adapter, targets, R, views, (t) => unitOf(engine.table, t.a) === unit));
        const losses: number[] = [];
        for (let s = 0; s < 3; s++) {
          const rows = stepRows(spec.vocab, s);
          const host = buildHostBatch(rows);
          host.origin = { step: s + 1, rows: Int32Array.from(rows.map((x) => x.globalRow)) };
          losses.push(engine.microStep(host, 1 / host.labelCount, true).lossSum);
          engine.step({ step: s + 1, lr: LR, maxGradNorm: 0, lossScale: 1 });
        }
        const adapters: Buffer[] = [];
        engine.forEachWholeUnit((views, unit) => {
          for (const t of targets) {
            if (unitOf(engine.table, t.a) !== unit) continue;
            const v = adapterTensorValues(t, R, views);
            adapters.push(Buffer.from(v.a.buffer), Buffer.from(v.b.buffer));
          }
        });
        return { losses, adapters };
      } finally {
        engine.free();
        group.destroy();
      }
    };
    const plain = run(false);
    const recomputed = run(true);
    expect(recomputed.losses).toEqual(plain.losses);
    expect(plain.adapters.length).toBe(2 * targets.length);
    recomputed.adapters.forEach((b, i) => expect(b.equals(plain.adapters[i]!), `adapter tensor ${i}`).toBe(true));
    // the adapters trained: the comparison is not of two untouched copies
    const initial = targets.flatMap((t) => [Buffer.from(values.get(t)!.a.buffer), Buffer.from(values.get(t)!.b.buffer)]);
    plain.adapters.forEach((b, i) => expect(b.equals(initial[i]!), `adapter tensor ${i} trained`).toBe(false));
  }, 120_000);
});

// A LoRA run whose frozen base stays resident (ZeRO stages 0-2) packs the base's projections once
// for the forward's products (model/frozen_packs.ts); stage 3 gathers the base per unit and packs
// nothing. On one process the two must train to the same bits: the packed product reads the same
// values in oneDNN's blocked layout that the plain product builds on every call
// (test/native/kernels.test.ts checks the product itself). bf16, where the CPU packs; on a CPU
// without bf16 products neither stage packs and the equality still holds.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { initDistributed } from '../../src/distributed/init.js';
import { buildHostBatch } from '../../src/model/batch.js';
import { frozenPackBytes } from '../../src/model/frozen_packs.js';
import { initRandomEntries, seededUniform } from '../../src/model/init.js';
import { loraTargets } from '../../src/model/lora.js';
import { buildParamTable } from '../../src/model/params.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { linearPackedWeightBytes } from '../../src/native/kernels.js';
import { DType, memStats } from '../../src/native/tensor.js';
import { ZeroEngine } from '../../src/zero/zero_engine.js';

const SPEC = parseModelSpec(JSON.parse(readFileSync('data/tiny-model/config.json', 'utf8')));
const SEQ = 64;
const group = initDistributed({ env: {} });
afterAll(() => group.destroy());

/** Three LoRA steps at `stage` on one process: the losses, the adapters, and the buffers held after initBase. */
function train(stage: 0 | 3) {
  const engine = new ZeroEngine({
    stage, comm: group.world, spec: SPEC, be: cpuBackend,
    model: {
      dtype: DType.BF16, gradDtype: DType.F32, maxTokens: 2 * SEQ, maxSeqLen: SEQ, recompute: false,
      lora: { targets: loraTargets(SPEC, { targetModules: ['all-linear'] }), r: 8, scale: 2, dropout: 0 },
    },
    hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, adamWMode: true }, noDecay: ['norm', 'bias'],
    overlapComm: false, prefetch: false, persistenceThreshold: 0,
  });
  const uniform = seededUniform(7);
  const init = (table: typeof engine.table) => (views: Parameters<Parameters<typeof engine.initParams>[0]>[0], unit: { start: number; end: number }) =>
    initRandomEntries(views, table.entries.filter((e) => e.offset >= unit.start && e.offset < unit.end), 0.2, uniform);
  const buffersBefore = memStats().current.buffers!;
  engine.initBase(init(engine.baseTable!));
  const packedBuffers = memStats().current.buffers! - buffersBefore;
  // non-zero B from the start, so the adapters shape the loss from step 1
  engine.initParams(init(engine.table));
  const rows = Array.from({ length: 2 }, (_, r) => {
    const ids = Array.from({ length: SEQ }, (_, i) => (r * 131 + i * 17) % SPEC.vocab);
    return { inputIds: ids, labels: ids, docLens: [SEQ] };
  });
  const batch = buildHostBatch(rows);
  const losses: number[] = [];
  for (let step = 1; step <= 3; step++) {
    const res = engine.microStep(batch, 1 / batch.labelCount, true);
    engine.step({ step, lr: 1e-3, maxGradNorm: 1, lossScale: 1 });
    losses.push(res.lossSum / res.count);
  }
  const adapters: number[] = [];
  engine.forEachWholeUnit((views, unit) => {
    for (const e of engine.table.entries.filter((x) => x.offset >= unit.start && x.offset < unit.end)) adapters.push(...views.tensor(e.name).toFloat32());
  });
  engine.free();
  return { losses, adapters, packedBuffers };
}

describe('LoRA with the frozen base packed (stages 0-2) or gathered (stage 3)', () => {
  it('packs the base once at stage 0 and trains to the same bits as stage 3', () => {
    const packed = train(0);
    const gathered = train(3);
    const want = frozenPackBytes(buildParamTable(SPEC), SPEC.nLayers, (In, Out) => linearPackedWeightBytes(In, Out, DType.BF16));
    console.log(`stage 0 packs ${packed.packedBuffers} B of buffers at initBase (planned ${want}); losses ${packed.losses.join(', ')}`);
    expect(packed.packedBuffers).toBe(want);
    expect(gathered.packedBuffers).toBe(0);
    expect(packed.losses).toEqual(gathered.losses);
    expect(Float32Array.from(packed.adapters)).toEqual(Float32Array.from(gathered.adapters));
  });
});

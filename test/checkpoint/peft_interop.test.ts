// PEFT adapters written the way PEFT writes them (scripts/reference/peft_adapter_ref.py: names from
// the HF model object's module paths, adapter_model.bin through torch.save or safetensors, fp32 /
// bf16 / fp16) for each TeleChat layout, merged by telechat-export exactly as documented
// (`--checkpoint ADAPTER_DIR`, the base from base_model_name_or_path) and compared with PEFT's merge
// W + (alpha / r) B A recomputed in PyTorch: TeleChat2's interleaved key_value, 52B's Conv1D
// (fan_in_fan_out) and the 7B, whose checkpoint has no "transformer." prefix while its modules (and
// so PEFT's tensor names) still sit under `transformer`.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HfTensorSource, loadHfSpec } from '../../src/checkpoint/hf.js';
import { adapterNames } from '../../src/checkpoint/peft.js';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { TorchBinReader } from '../../src/checkpoint/torch_bin.js';
import { loraTargets } from '../../src/model/lora.js';
import { planLora } from '../../src/train/lora_run.js';
import { LAYOUT_CONFIGS } from '../helpers/layouts.js';
import { runPythonAsync } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('peft-interop');
afterAll(() => tmp.cleanup());
const EXPORT_CLI = resolve('dist/cli/export.js');
const REF = 'scripts/reference/peft_adapter_ref.py';
const R = 4;
const ALPHA = 16;

interface Case { name: string; layout: string; targets: string[]; format: 'bin' | 'safetensors'; dtype: string }
const CASES: Case[] = [
  { name: '7B (v1; checkpoint names without "transformer.")', layout: 'telechat_7b_style_tied_noprefix', targets: ['query', 'key_value', 'dense', 'gate_proj', 'up_proj', 'down_proj'], format: 'bin', dtype: 'fp32' },
  { name: 'TeleChat2 GQA (key_value interleaved per kv head)', layout: 'telechat2_gqa_untied', targets: ['key_value', 'query', 'down_proj'], format: 'safetensors', dtype: 'bf16' },
  { name: '52B Conv1D (fan_in_fan_out)', layout: 'telechat_52b_style', targets: ['c_attn', 'c_proj', 'c_fc'], format: 'safetensors', dtype: 'fp16' },
];
const dirs = (c: Case) => ({ base: join(tmp.dir, c.layout), adapter: join(tmp.dir, `${c.layout}-adapter`), ref: join(tmp.dir, `${c.layout}-ref.safetensors`) });

beforeAll(async () => {
  await Promise.all(CASES.map(async (c) => {
    const d = dirs(c);
    mkdirSync(d.base);
    writeFileSync(join(tmp.dir, `${c.layout}.json`), JSON.stringify(LAYOUT_CONFIGS[c.layout]));
    await runPythonAsync('scripts/reference/telechat_ref.py', ['init', '--config', join(tmp.dir, `${c.layout}.json`), '--out', d.base, '--seed', '2', '--std', '0.05']);
    await runPythonAsync(REF, ['write', '--base', d.base, '--out', d.adapter, '--targets', c.targets.join(','), '--r', String(R), '--alpha', String(ALPHA), '--format', c.format, '--dtype', c.dtype]);
    await runPythonAsync(REF, ['merge', '--base', d.base, '--adapter', d.adapter, '--out', d.ref]);
  }));
}, 120_000);

describe('a PEFT adapter of each TeleChat layout', () => {
  it.each(CASES)('$name: telechat-export --checkpoint ADAPTER merges it as PEFT does (within 1 ulp)', (c) => {
    const d = dirs(c);
    const out = join(tmp.dir, `${c.layout}-merged`);
    const res = spawnSync(process.execPath, [EXPORT_CLI, '--checkpoint', d.adapter, '--output', out], { encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const ours = new SafetensorsReader(join(out, 'model.safetensors'));
    const ref = new SafetensorsReader(d.ref);
    const base = new SafetensorsReader(join(d.base, 'model.safetensors'));
    expect([...ours.tensors.keys()].sort()).toEqual([...ref.tensors.keys()].sort());
    // both round one float64 value to fp32 (the sums over r differ only in order): at most 1 ulp,
    // and ulp(x) <= 2^-23 |x|; tensors without an adapter are the base's bits
    let worst = 0;
    let merged = 0;
    for (const name of ref.tensors.keys()) {
      const [a, b] = [ours.readFloat32(name), ref.readFloat32(name)];
      expect(ours.info(name).shape, name).toEqual(ref.info(name).shape);
      for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-30));
      if (!Buffer.from(ours.readBytes(name)).equals(Buffer.from(base.readBytes(name)))) merged++;
    }
    for (const r of [ours, ref, base]) r.close();
    expect(worst).toBeLessThanOrEqual(2 ** -23);
    // one changed matrix per lora_A PEFT wrote, nothing else (a merge that matched nothing would leave the base)
    expect(merged).toBe(adapterTensorNames(c).filter((n) => n.endsWith('.lora_A.weight')).length);
  }, 60_000);

  it.each(CASES)('$name: the tensor names telechat-train writes are the ones PEFT wrote, and it takes the adapter as init_adapter', (c) => {
    const d = dirs(c);
    const spec = loadHfSpec(d.base);
    const theirs = adapterTensorNames(c).sort();
    const ours = loraTargets(spec, { targetModules: c.targets }, baseNames(d.base)).flatMap((t) => Object.values(adapterNames(t))).sort();
    expect(ours).toEqual(theirs);
    const warnings: string[] = [];
    const cfg = JSON.parse(readFileSync(join(d.adapter, 'adapter_config.json'), 'utf8')) as { target_modules: string[] };
    planLora({ r: R, alpha: ALPHA, dropout: 0.05, target_modules: cfg.target_modules, init_adapter: d.adapter }, spec, d.base, 'pretrained', warnings);
    expect(warnings).toEqual([]);
  });
});

describe('an adapter_config.json whose target_modules also name modules TeleChat lacks', () => {
  it('merges what PEFT adapted (the entries that match), warning once about the others', () => {
    const c = CASES[1]!;
    const d = dirs(c);
    const adapter = join(tmp.dir, 'mixed-targets');
    cpSync(d.adapter, adapter, { recursive: true });
    const cfgFile = join(adapter, 'adapter_config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    // a list written for several model families: PEFT adapts the modules it matches and skips the rest
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, target_modules: ['q_proj', 'k_proj', ...c.targets, 'o_proj'] }));
    const out = join(tmp.dir, 'mixed-merged');
    const res = spawnSync(process.execPath, [EXPORT_CLI, '--checkpoint', adapter, '--output', out], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    const plain = join(tmp.dir, 'plain-merged');
    expect(spawnSync(process.execPath, [EXPORT_CLI, '--checkpoint', d.adapter, '--output', plain], { encoding: 'utf8' }).status).toBe(0);
    expect(res.stderr).toBe(`telechat-export: warning: ${cfgFile}: target_modules entries "q_proj", "k_proj", "o_proj" match no module of the telechat layout; PEFT skips them too\n`);
    // the same merge as with the list PEFT would have saved had it been given only the matching names
    const merged = new SafetensorsReader(join(out, 'model.safetensors'));
    const exact = new SafetensorsReader(join(plain, 'model.safetensors'));
    for (const name of exact.tensors.keys()) expect(Buffer.from(merged.readBytes(name)).equals(Buffer.from(exact.readBytes(name))), name).toBe(true);
    merged.close();
    exact.close();
  });
});

/** The tensor names of the adapter file peft_adapter_ref.py wrote for case c. */
function adapterTensorNames(c: Case): string[] {
  const file = join(dirs(c).adapter, c.format === 'bin' ? 'adapter_model.bin' : 'adapter_model.safetensors');
  const reader = c.format === 'bin' ? new TorchBinReader(file) : new SafetensorsReader(file);
  try {
    return [...reader.tensors.keys()];
  } finally {
    reader.close();
  }
}

function baseNames(dir: string): string[] {
  const src = new HfTensorSource(dir);
  try {
    return [...src.names()];
  } finally {
    src.close();
  }
}

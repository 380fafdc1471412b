// planLora with an init_adapter: r, lora_alpha and targets must match (errors, tested end to end in
// lora_train.test.ts); a different lora_dropout recorded in the adapter is the run's to choose,
// with a warning (prepareRun plans the adapters, so --dry-run shows it: lora_train.test.ts), as is
// a fan_in_fan_out that contradicts the layer type.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { adapterNames, loadAdapterWeights, writeAdapterDir } from '../../src/checkpoint/peft.js';
import { writeSafetensors } from '../../src/checkpoint/safetensors.js';
import { buildLoraTable, loraTargets } from '../../src/model/lora.js';
import { FlatParams } from '../../src/model/params.js';
import { DType, MemCategory } from '../../src/native/tensor.js';
import { parseModelSpec, type ModelSpec } from '../../src/model/spec.js';
import { planLora } from '../../src/train/lora_run.js';
import { LAYOUT_CONFIGS } from '../helpers/layouts.js';
import { TINY_MODEL } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('lora-run');
afterAll(() => tmp.cleanup());

/** A PEFT adapter dir for r 8 on `modules` of spec (zero weights), its config changed by `config`. */
function writeAdapter(name: string, spec: ModelSpec, modules: string[], config: Record<string, unknown>, extra: Array<[string, number[]]> = []): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: modules, ...config }));
  const shapes: Array<[string, number[]]> = loraTargets(spec, { targetModules: modules }).flatMap((t): Array<[string, number[]]> => [[adapterNames(t).a, [8, t.in]], [adapterNames(t).b, [t.out, 8]]]);
  const zeros = (shape: number[]) => () => new Uint8Array(4 * shape.reduce((a, b) => a * b, 1));
  writeSafetensors(join(dir, 'adapter_model.safetensors'), [...shapes, ...extra].map(([n, shape]) => ({ name: n, dtype: 'F32' as const, shape, data: zeros(shape) })));
  return dir;
}

it('an init_adapter whose lora_dropout differs from lora.dropout: the section\'s is used, with a warning; none when the file records none', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const adapterWith = (name: string, config: Record<string, unknown>): string => writeAdapter(name, spec, ['query'], config);
  const adapter = adapterWith('with-dropout', { lora_dropout: 0.1 });
  const section = { r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: adapter };
  const warnings: string[] = [];
  const run = planLora(section, spec, tmp.dir, 'random', warnings);
  expect(run.model.dropout).toBe(0);
  expect(warnings).toEqual([`lora.init_adapter ${adapter}: its lora_dropout 0.1 is not used; this run trains with lora.dropout = 0`]);
  const same: string[] = [];
  planLora({ ...section, dropout: 0.1 }, spec, tmp.dir, 'random', same);
  expect(same).toEqual([]);
  // an adapter_config.json without lora_dropout records nothing to disagree with
  const silent: string[] = [];
  planLora({ ...section, dropout: 0.1, init_adapter: adapterWith('no-dropout', {}) }, spec, tmp.dir, 'random', silent);
  expect(silent).toEqual([]);
});

it('an init_adapter whose fan_in_fan_out contradicts the layer type is read as PEFT reads it, with a warning', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const dir = writeAdapter('fan-in-fan-out', spec, ['query'], { fan_in_fan_out: true });
  const warnings: string[] = [];
  planLora({ r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: dir }, spec, tmp.dir, 'random', warnings);
  expect(warnings).toEqual([`${join(dir, 'adapter_config.json')}: fan_in_fan_out is true, but the base's target modules are nn.Linear; read as false, as PEFT does`]);
});

it('an init_adapter is checked tensor by tensor when planned (so --dry-run checks it): a missing, misshapen or extra tensor is refused', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const section = { r: 8, alpha: 16, dropout: 0, target_modules: ['query'] };
  const plan = (dir: string) => () => planLora({ ...section, init_adapter: dir }, spec, tmp.dir, 'random', []);
  expect(plan(writeAdapter('ok', spec, ['query'], {}))).not.toThrow();
  // a tensor of a layer this base does not have (an adapter of a deeper model)
  const deeper = `base_model.model.transformer.h.${spec.nLayers}.self_attention.query.lora_A.weight`;
  expect(plan(writeAdapter('deeper', spec, ['query'], {}, [[deeper, [8, spec.hidden]]]))).toThrow(
    `tensor ${deeper} is not an adapter of the targets query on this ${spec.nLayers}-layer base: an adapter of another base or target list`);
  // tensors of a module target_modules does not name
  const dense = adapterNames(loraTargets(spec, { targetModules: ['dense'] })[0]!).a;
  expect(plan(writeAdapter('extra-module', spec, ['query'], {}, [[dense, [8, spec.hidden]]]))).toThrow(`tensor ${dense} is not an adapter of the targets query`);
  // a whole weight beside the adapters (PEFT's save_embedding_layers after a vocabulary resize)
  const embed = 'base_model.model.transformer.word_embeddings.weight';
  expect(plan(writeAdapter('with-embedding', spec, ['query'], {}, [[embed, [spec.vocab, spec.hidden]]]))).toThrow(
    `tensor ${embed} is not a LoRA A or B weight: PEFT saves whole weights beside the adapters for modules_to_save and for embedding layers whose vocabulary was resized, which telechat-train cannot apply (it merges and trains LoRA adapters only)`);
  // the shapes of a wider base
  const wide = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat', hidden_size: TINY_MODEL.hidden_size * 2 });
  expect(plan(writeAdapter('wider', wide, ['query'], {}))).toThrow(/lora_A\.weight has shape \[8, \d+\], expected \[8, \d+\] for this base model and r = 8/);
});

it('an init_adapter tensor that is not floating point is refused naming the file and the tensor', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const dir = writeAdapter('int-tensor', spec, ['query'], {});
  const [t] = loraTargets(spec, { targetModules: ['query'] });
  const file = join(dir, 'adapter_model.safetensors');
  // the same names and shapes, lora_A of layer 0 stored as I32 (a corrupt or foreign file)
  writeSafetensors(file, loraTargets(spec, { targetModules: ['query'] }).flatMap((x) => [
    { name: adapterNames(x).a, dtype: x.path === t!.path ? 'I32' as const : 'F32' as const, shape: [8, x.in], data: () => new Uint8Array(4 * 8 * x.in) },
    { name: adapterNames(x).b, dtype: 'F32' as const, shape: [x.out, 8], data: () => new Uint8Array(4 * 8 * x.out) },
  ]));
  expect(() => planLora({ r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: dir }, spec, tmp.dir, 'random', [])).toThrow(
    `${file}: tensor ${adapterNames(t!).a} is I32; an adapter's tensors are floating point (F32, BF16, F16, F64)`);
});

it('an init_adapter whose target_modules also name modules this layout lacks is read as PEFT reads it (only a list matching nothing is refused), with a warning', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  // a list shared across model families, as LLaMA-Factory users write them: PEFT adapts what matches
  const dir = writeAdapter('mixed-targets', spec, ['query'], { target_modules: ['q_proj', 'query', 'v_proj'] });
  const warnings: string[] = [];
  const run = planLora({ r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: dir }, spec, tmp.dir, 'random', warnings);
  expect(run.targets.map((t) => t.module)).toEqual(['query', 'query']);
  expect(warnings).toEqual([`${join(dir, 'adapter_config.json')}: target_modules entries "q_proj", "v_proj" match no module of the telechat layout; PEFT skips them too`]);
  const none = writeAdapter('no-target-matches', spec, ['query'], { target_modules: ['q_proj', 'v_proj'] });
  expect(() => planLora({ r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: none }, spec, tmp.dir, 'random', [])).toThrow(
    `${join(none, 'adapter_config.json')}: target_modules: unknown module "q_proj" for the telechat layout; its modules are query, key_value, dense, gate_proj, up_proj, down_proj`);
});

it('adapter_config.json names the target modules, also for "all-linear" (PEFT does not expand it inside a list)', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const targets = loraTargets(spec, { targetModules: ['all-linear'] });
  const dir = join(tmp.dir, 'written');
  writeAdapterDir(dir, { cfg: { r: 2, alpha: 4, dropout: 0, targetModules: ['all-linear'] }, targets, values: new Map(targets.map((t) => [t, { a: new Float32Array(2 * t.in), b: new Float32Array(t.out * 2) }])), baseModel: '/base', conv1d: false });
  expect(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).target_modules).toEqual(['query', 'key_value', 'dense', 'gate_proj', 'up_proj', 'down_proj']);
});

it('target_modules entries match as PEFT matches them: a module name, or a dotted suffix of the module path', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const paths = (modules: string[]) => loraTargets(spec, { targetModules: modules }).map((t) => t.path);
  expect(paths(['self_attention.query', 'mlp.down_proj'])).toEqual(paths(['query', 'down_proj']));
  expect(paths(['h.0.self_attention.query'])).toEqual([paths(['query'])[0]]); // one layer's module
  expect(() => paths(['attention.query'])).toThrow('unknown module "attention.query" for the telechat layout; its modules are query, key_value, dense, gate_proj, up_proj, down_proj');
  // 52B: "c_proj" takes the attention's and the MLP's output projection, "attn.c_proj" only the first
  const s52 = parseModelSpec(LAYOUT_CONFIGS.telechat_52b_style!);
  const t52 = (modules: string[]) => loraTargets(s52, { targetModules: modules }).map((t) => t.canonical);
  expect(t52(['c_proj'])).toEqual(['o', 'down', 'o', 'down']);
  expect(t52(['attn.c_proj'])).toEqual(['o', 'o']);
});

it('an init_adapter must select the same modules as the section, whatever the spelling', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const section = { r: 8, alpha: 16, dropout: 0, target_modules: ['query'] };
  const dotted = writeAdapter('dotted', spec, ['self_attention.query'], {});
  expect(() => planLora({ ...section, init_adapter: dotted }, spec, tmp.dir, 'random', [])).not.toThrow();
  const other = writeAdapter('other-targets', spec, ['dense'], {});
  expect(() => planLora({ ...section, init_adapter: other }, spec, tmp.dir, 'random', [])).toThrow(
    `lora.init_adapter ${other}: adapter target_modules ["dense"] select other modules than lora.target_modules ["query"]`);
});

it('an adapter tensor holding NaN or infinity is refused when loaded, naming the tensor and the element (merged or trained on, it would spread silently)', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const targets = loraTargets(spec, { targetModules: ['query'] });
  for (const bad of [NaN, Infinity]) {
    const dir = writeAdapter(`non-finite-${bad}`, spec, ['query'], {});
    // layer 1's lora_B with one bad element (the 6th), every other value 0
    writeSafetensors(join(dir, 'adapter_model.safetensors'), targets.flatMap((x, l) => [
      { name: adapterNames(x).a, dtype: 'F32' as const, shape: [8, x.in], data: () => new Uint8Array(4 * 8 * x.in) },
      { name: adapterNames(x).b, dtype: 'F32' as const, shape: [x.out, 8], data: () => {
        const v = new Float32Array(8 * x.out);
        if (l === 1) v[5] = bad;
        return new Uint8Array(v.buffer);
      } },
    ]));
    const views = new FlatParams(buildLoraTable(spec, targets, 8, 1), DType.F32, MemCategory.Buffers);
    try {
      expect(() => loadAdapterWeights(dir, targets, 8, views)).toThrow(
        `${dir}: adapter tensor ${adapterNames(targets[1]!).b} holds ${bad} at element 5: the adapter is damaged (a diverged run?)`);
    } finally {
      views.free();
    }
  }
});

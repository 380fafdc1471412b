// PEFT LoRA adapter directories (docs/checkpoints.md): adapter_config.json and
// adapter_model.safetensors with base_model.model.<module path>.lora_A.weight [r, in] and
// .lora_B.weight [out, r], B rows in the HF module's own row order (key_value interleaved per
// kv head). Our adapters keep B in canonical row order (model/lora.ts), translated here. We write
// safetensors; we read either that or adapter_model.bin (a torch.save pickle, what PEFT before 0.7
// wrote), through the same safe pickle reader as pytorch_model.bin.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TRAINING_RECORD_FILE, trainingRecordJson, type TrainingRecord } from './training_record.js';
import { type LoraConfig, type LoraTarget, loraTargets, unmatchedEntries } from '../model/lora.js';
import type { ModelSpec } from '../model/spec.js';
import type { ParamViews } from '../model/params.js';
import { PEFT_OPTION_DEFAULTS } from '../config/peft_options.js';
import { CheckpointError } from './hf.js';
import { SafetensorsReader, writeSafetensors } from './safetensors.js';
import type { TensorFile } from './tensor_file.js';
import { TorchBinReader } from './torch_bin.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/** What PEFT before 0.7 (and save_pretrained(safe_serialization=False)) writes instead: a torch.save pickle. */
const ADAPTER_WEIGHTS_BIN = 'adapter_model.bin';

/** The adapter's weights file, safetensors preferred (PEFT writes one of the two). */
function openAdapterWeights(dir: string): TensorFile {
  const safetensors = join(dir, ADAPTER_WEIGHTS);
  if (existsSync(safetensors)) return new SafetensorsReader(safetensors);
  const bin = join(dir, ADAPTER_WEIGHTS_BIN);
  if (existsSync(bin)) return new TorchBinReader(bin);
  throw new CheckpointError(`${dir}: no ${ADAPTER_WEIGHTS} (or ${ADAPTER_WEIGHTS_BIN})`);
}

export function adapterNames(t: LoraTarget): { a: string; b: string } {
  const p = `base_model.model.${t.path}`;
  return { a: `${p}.lora_A.weight`, b: `${p}.lora_B.weight` };
}

/**
 * Keys that describe the file or its use rather than change the adapter's math: checked or read
 * below (fan_in_fan_out and revision with a warning when they say what does not apply here,
 * adapterConfigWarnings), or bookkeeping (inference_mode, auto_mapping, peft_version,
 * runtime_config; qalora_group_size only matters with use_qalora).
 */
const DESCRIPTIVE = new Set(['peft_type', 'task_type', 'bias', 'r', 'lora_alpha', 'lora_dropout', 'target_modules',
  'base_model_name_or_path', 'inference_mode', 'fan_in_fan_out', 'revision', 'auto_mapping', 'peft_version',
  'runtime_config', 'qalora_group_size']);

/**
 * init_lora_weights values a trained adapter may record: they say only how A and B were first drawn
 * (the file holds them as trained) and leave the base weights as they were. PiSSA, OLoRA, CorDA and
 * LoftQ ("pissa", "olora", ...) rewrite the base weights too, so such an adapter applies to that
 * rewritten base, not to the base dir. (A lora section's init_lora_weights is another matter: there
 * it would choose our initialisation, which is PEFT's default only: config/schema.ts.)
 */
const INIT_KEEPING_BASE: readonly unknown[] = [true, false, 'gaussian'];

/** A known option's value that means its default: the default itself, or null for an empty-object default (PEFT writes either). */
function isDefault(v: unknown, def: unknown): boolean {
  if (JSON.stringify(v) === JSON.stringify(def)) return true;
  return v === null && typeof def === 'object' && def !== null && Object.keys(def).length === 0;
}

/** null, false, {} or []: an unknown option that is off. */
function isOff(v: unknown): boolean {
  if (v === null || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v as object).length === 0;
}

export interface AdapterConfigFile {
  r: number;
  lora_alpha: number;
  /** null when the file has no lora_dropout */
  lora_dropout: number | null;
  target_modules: string[];
  /** The base the adapter was trained on, as recorded (null when absent or empty). */
  base_model_name_or_path: string | null;
  /** As recorded (null when absent). PEFT sets it from the layer type: true for Conv1D. */
  fan_in_fan_out: boolean | null;
  /** The Hub revision of the base, as recorded (null when absent). */
  revision: string | null;
}

/** Reads and checks an adapter dir's adapter_config.json (a LoRA adapter for a causal LM, bias "none"). */
export function readAdapterConfig(dir: string): AdapterConfigFile {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path)) throw new CheckpointError(`${dir}: not a PEFT adapter directory (no ${ADAPTER_CONFIG})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CheckpointError(`${path}: not a JSON object (PEFT's LoraConfig as {"peft_type": "LORA", "r": ..., ...}), got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`}`);
  }
  const raw = parsed as Record<string, unknown>;
  const want = (key: string, ok: (v: unknown) => boolean, what: string): unknown => {
    if (!ok(raw[key])) throw new CheckpointError(`${path}: key "${key}" must be ${what}, got ${JSON.stringify(raw[key])}`);
    return raw[key];
  };
  want('peft_type', (v) => v === 'LORA', '"LORA"');
  want('task_type', (v) => v === undefined || v === null || v === 'CAUSAL_LM', '"CAUSAL_LM" (an adapter for a causal language model)');
  want('bias', (v) => v === undefined || v === 'none', '"none" (bias training is not supported)');
  for (const [key, v] of Object.entries(raw)) {
    if (DESCRIPTIVE.has(key)) continue;
    if (key === 'init_lora_weights') {
      if (!INIT_KEEPING_BASE.includes(v)) {
        throw new CheckpointError(`${path}: PEFT option "init_lora_weights" = ${JSON.stringify(v)} is not supported (only true, false or "gaussian": ` +
          'initialisations that leave the base weights as they were; PiSSA, OLoRA, CorDA and LoftQ rewrite them, so the adapter belongs to another base)');
      }
      continue;
    }
    if (Object.hasOwn(PEFT_OPTION_DEFAULTS, key)) {
      const def = PEFT_OPTION_DEFAULTS[key];
      if (!isDefault(v, def)) {
        throw new CheckpointError(`${path}: PEFT option "${key}" = ${JSON.stringify(v)} is not supported (only its default ${JSON.stringify(def)})`);
      }
    } else if (!isOff(v)) {
      throw new CheckpointError(`${path}: "${key}" = ${JSON.stringify(v)} is not an adapter_config.json key telechat-train knows; ` +
        'an unknown PEFT option is accepted only when off (null, false, {} or [])');
    }
  }
  const r = want('r', (v) => Number.isInteger(v) && (v as number) > 0, 'a positive integer') as number;
  const alpha = want('lora_alpha', (v) => typeof v === 'number' && v > 0, 'a positive number') as number;
  const dropout = raw.lora_dropout === undefined ? null : (want('lora_dropout', (v) => typeof v === 'number' && v >= 0 && v < 1, 'a number in [0, 1)') as number);
  let targets = raw.target_modules;
  // PEFT reads any other single string as a regular expression over module paths
  if (targets === 'all-linear') targets = [targets];
  if (typeof targets === 'string') {
    throw new CheckpointError(`${path}: key "target_modules" is the regular expression ${JSON.stringify(targets)}; telechat-train reads a list of module names (or "all-linear")`);
  }
  want('target_modules', () => Array.isArray(targets) && targets.every((t) => typeof t === 'string') && targets.length > 0, 'a non-empty list of module names');
  const fanInFanOut = want('fan_in_fan_out', (v) => v === undefined || v === null || typeof v === 'boolean', 'true or false') as boolean | null | undefined;
  const revision = want('revision', (v) => v === undefined || v === null || typeof v === 'string', 'a string or null') as string | null | undefined;
  return { r, lora_alpha: alpha, lora_dropout: dropout, target_modules: targets as string[],
    base_model_name_or_path: typeof raw.base_model_name_or_path === 'string' && raw.base_model_name_or_path !== '' ? raw.base_model_name_or_path : null,
    fan_in_fan_out: fanInFanOut ?? null, revision: revision ?? null,
  };
}

/**
 * The modules an adapter_config.json's target_modules select on this base, read as PEFT reads the
 * list: entries that match no module of the layout are skipped (one warning names them; PEFT skips
 * them silently), and a list that matches nothing is refused (loraTargets names the layout's modules).
 */
export function adapterTargets(dir: string, cfg: AdapterConfigFile, spec: ModelSpec, hfNames: string[] | undefined, warnings: string[]): LoraTarget[] {
  const file = join(dir, ADAPTER_CONFIG);
  const unmatched = unmatchedEntries(spec, cfg.target_modules, hfNames);
  if (unmatched.length > 0) {
    warnings.push(`${file}: target_modules ${unmatched.length > 1 ? 'entries' : 'entry'} ${unmatched.map((n) => JSON.stringify(n)).join(', ')} ` +
      `match${unmatched.length > 1 ? '' : 'es'} no module of the ${spec.layout} layout; PEFT skips ${unmatched.length > 1 ? 'them' : 'it'} too`);
  }
  const selected = cfg.target_modules.filter((n) => !unmatched.includes(n));
  return loraTargets(spec, { targetModules: selected }, hfNames, `${file}: target_modules`);
}

/**
 * What an adapter_config.json records that does not apply to this base, one line each, for the
 * caller to print. fan_in_fan_out follows the layer type as in PEFT, which overrides a value that
 * contradicts it with a warning (true for GPT-2 Conv1D, the 52B layout; false for nn.Linear); a
 * Hub revision of the base does not select anything in a local base dir.
 */
export function adapterConfigWarnings(dir: string, cfg: AdapterConfigFile, conv1d: boolean, baseDir: string): string[] {
  const file = join(dir, ADAPTER_CONFIG);
  const warnings: string[] = [];
  if (cfg.fan_in_fan_out !== null && cfg.fan_in_fan_out !== conv1d) {
    warnings.push(`${file}: fan_in_fan_out is ${cfg.fan_in_fan_out}, but the base's target modules are ${conv1d ? 'Conv1D' : 'nn.Linear'}; read as ${conv1d}, as PEFT does`);
  }
  if (cfg.revision !== null) {
    warnings.push(`${file}: revision "${cfg.revision}" has no effect: the base is the local dir ${baseDir}`);
  }
  return warnings;
}

/** The element types an adapter's A and B may be stored in (read as fp32). */
const FLOAT_DTYPES: readonly string[] = ['F32', 'BF16', 'F16', 'F64'];

/**
 * An adapter's weights file against the targets, without reading values: every target's A
 * [r, in] and B [out, r] present with exactly that shape and a float dtype, and no other tensor
 * (one for a layer or module the targets lack means an adapter of another base or target list).
 * --dry-run runs it too.
 */
function checkAdapterTensors(reader: TensorFile, targets: readonly LoraTarget[], r: number): void {
  const file = reader.path;
  const expected = new Set<string>();
  for (const t of targets) {
    const n = adapterNames(t);
    for (const [name, shape] of [[n.a, [r, t.in]], [n.b, [t.out, r]]] as const) {
      expected.add(name);
      const info = reader.tensors.get(name);
      if (!info) throw new CheckpointError(`${file}: missing tensor ${name} (target module ${t.module} of layer ${t.layer})`);
      if (info.shape.join(',') !== shape.join(',')) {
        throw new CheckpointError(`${file}: tensor ${name} has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] for this base model and r = ${r}`);
      }
      if (!FLOAT_DTYPES.includes(info.dtype)) {
        throw new CheckpointError(`${file}: tensor ${name} is ${info.dtype}; an adapter's tensors are floating point (${FLOAT_DTYPES.join(', ')})`);
      }
    }
  }
  const extra = [...reader.tensors.keys()].filter((name) => !expected.has(name));
  const whole = extra.find((name) => !/\.lora_[AB]\.weight$/.test(name));
  if (whole !== undefined) {
    throw new CheckpointError(`${file}: tensor ${whole} is not a LoRA A or B weight: PEFT saves whole weights beside the adapters for modules_to_save ` +
      'and for embedding layers whose vocabulary was resized, which telechat-train cannot apply (it merges and trains LoRA adapters only)');
  }
  if (extra.length > 0) {
    const layers = Math.max(...targets.map((t) => t.layer)) + 1;
    throw new CheckpointError(`${file}: tensor ${extra[0]}${extra.length > 1 ? ` (and ${extra.length - 1} more)` : ''} is not an adapter of the targets ` +
      `${[...new Set(targets.map((t) => t.module))].join(', ')} on this ${layers}-layer base: an adapter of another base or target list`);
  }
}

/** checkAdapterTensors on an adapter dir's weights file. */
export function checkAdapterWeights(dir: string, targets: readonly LoraTarget[], r: number): void {
  const reader = openAdapterWeights(dir);
  try {
    checkAdapterTensors(reader, targets, r);
  } finally {
    reader.close();
  }
}

/**
 * Loads an adapter's A and B into the adapter views (only the targets `only` accepts, e.g. one
 * unit's), after checkAdapterTensors: a different base refuses here.
 */
export function loadAdapterWeights(dir: string, targets: readonly LoraTarget[], r: number, views: ParamViews, only: (t: LoraTarget) => boolean = () => true): void {
  const reader = openAdapterWeights(dir);
  try {
    checkAdapterTensors(reader, targets, r);
    for (const t of targets) {
      if (!only(t)) continue;
      const n = adapterNames(t);
      views.tensor(t.a).writeFloat32(finite(dir, n.a, reader.readFloat32(n.a)));
      const hf = finite(dir, n.b, reader.readFloat32(n.b));
      const canon = new Float32Array(hf.length);
      for (let i = 0; i < t.out; i++) canon.set(hf.subarray(t.hfRow[i]! * r, (t.hfRow[i]! + 1) * r), i * r);
      views.tensor(t.b).writeFloat32(canon);
    }
  } finally {
    reader.close();
  }
}

/** values, refused naming the tensor when one is NaN or infinite: merged or trained on, it would spread silently. */
function finite(dir: string, name: string, values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new CheckpointError(`${dir}: adapter tensor ${name} holds ${values[i]} at element ${i}: the adapter is damaged (a diverged run?)`);
  }
  return values;
}

/** One target's A and B in PEFT's layout (B rows back in HF order). */
export function adapterTensorValues(t: LoraTarget, r: number, views: ParamViews): { a: Float32Array; b: Float32Array } {
  const a = views.tensor(t.a).toFloat32();
  const canon = views.tensor(t.b).toFloat32();
  const b = new Float32Array(canon.length);
  for (let i = 0; i < t.out; i++) b.set(canon.subarray(i * r, (i + 1) * r), t.hfRow[i]! * r);
  return { a, b };
}

export interface AdapterOut {
  cfg: LoraConfig;
  targets: readonly LoraTarget[];
  /** A and B of every target, PEFT layout. */
  values: Map<LoraTarget, { a: Float32Array; b: Float32Array }>;
  baseModel: string;
  conv1d: boolean;
  /** The run's template and length (training_record.ts), written beside the adapter for merges and GGUF exports. */
  trained?: TrainingRecord;
}

/** Writes a PEFT adapter dir atomically (temporary sibling, renamed into place). fp32 tensors. */
export function writeAdapterDir(outDir: string, o: AdapterOut): void {
  const target = resolve(outDir);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const config = {
    peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: o.baseModel, inference_mode: true,
    // "all-linear" as the module names: PEFT expands that string only when it stands alone
    // (LoraConfig) and saves the names it matched, so a list holding it would match nothing
    r: o.cfg.r, lora_alpha: o.cfg.alpha, lora_dropout: o.cfg.dropout,
    target_modules: o.cfg.targetModules.includes('all-linear') ? [...new Set(o.targets.map((t) => t.module))] : o.cfg.targetModules,
    bias: 'none', fan_in_fan_out: o.conv1d, modules_to_save: null, use_rslora: false, use_dora: false, init_lora_weights: true,
  };
  writeFileSync(join(tmp, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
  if (o.trained) writeFileSync(join(tmp, TRAINING_RECORD_FILE), trainingRecordJson(o.trained));
  const tensors = [];
  for (const t of o.targets) {
    const v = o.values.get(t)!;
    const n = adapterNames(t);
    tensors.push({ name: n.a, dtype: 'F32' as const, shape: [o.cfg.r, t.in], data: () => new Uint8Array(v.a.buffer, v.a.byteOffset, v.a.byteLength) });
    tensors.push({ name: n.b, dtype: 'F32' as const, shape: [t.out, o.cfg.r], data: () => new Uint8Array(v.b.buffer, v.b.byteOffset, v.b.byteLength) });
  }
  writeSafetensors(join(tmp, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(tmp, target);
  rmSync(old, { recursive: true, force: true });
}

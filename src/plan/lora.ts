// LoRA planning (the trainer: src/train/lora_run.ts, DESIGN.md "LoRA runs"): the base model is frozen
// in the training dtype (no gradients, master weights or moments); every targeted projection
// gets adapters A [r, in] and B [out, r], trained with full fp32 master weights and AdamW
// moments. Targets are selected as the trainer selects them (model/lora.ts loraTargets): module
// names or dotted suffixes of module paths, as PEFT matches them, or "all-linear".
import { loraTargets, moduleNames } from '../model/lora.js';
import type { ModelSpec } from '../model/spec.js';

export interface LoraSetup {
  r: number;
  targets: string[];
}

interface Projection {
  name: string;
  in: number;
  out: number;
}

/** The linear projections of one block, by their HF module names. */
export function blockProjections(spec: ModelSpec): Projection[] {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F } = spec;
  if (spec.layout === 'telechat-52b') {
    return [
      { name: 'c_attn', in: H, out: 3 * H },
      { name: 'c_proj', in: H, out: H },
      { name: 'c_fc', in: H, out: 2 * F },
      { name: 'c_proj', in: F, out: H },
    ];
  }
  return [
    { name: 'query', in: H, out: nh * D },
    { name: 'key_value', in: H, out: 2 * nkv * D },
    { name: 'dense', in: nh * D, out: H },
    { name: 'gate_proj', in: H, out: F },
    { name: 'up_proj', in: H, out: F },
    { name: 'down_proj', in: F, out: H },
  ];
}

/** Every projection of a block: TeleChat's own scripts adapt all linear layers of `transformer.h.` by default. */
export function defaultLoraTargets(spec: ModelSpec): string[] {
  return moduleNames(spec);
}

export interface LoraAdapters {
  /** Adapter parameters in the whole model. */
  params: number;
  /** Adapter parameters of one block. */
  perBlock: number;
  /** Adapted projections per block. */
  modulesPerBlock: number;
  /** The most parameters one adapter module holds (PEFT's lora_A [r, in] or lora_B [out, r]). */
  largestModule: number;
}

export function loraAdapters(spec: ModelSpec, lora: LoraSetup): LoraAdapters {
  // the trainer's own selection (names, dotted suffixes or "all-linear", as PEFT matches them)
  const targets = loraTargets(spec, { targetModules: lora.targets }, undefined, '--lora-targets');
  const params = targets.reduce((n, t) => n + lora.r * (t.in + t.out), 0);
  const largestModule = Math.max(0, ...targets.map((t) => lora.r * Math.max(t.in, t.out)));
  return { params, perBlock: params / spec.nLayers, modulesPerBlock: targets.filter((t) => t.layer === 0).length, largestModule };
}

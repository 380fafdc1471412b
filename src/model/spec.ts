// The architecture of a TeleChat-family model, read from a Hugging Face config.json.
// Every TeleChat config says model_type "telechat", so the layout is chosen from
// `architectures` and key names (n_embd => the 52B GPT-2-style layout), never model_type.
import { readFileSync } from 'node:fs';
import { parseJsonWhere } from '../config/json_file.js';

export type LayoutName = 'telechat' | 'telechat-52b';

/** How rotary frequencies are derived (reference/telechat.md, "Rotary with NTK scaling"). */
export interface RopeSpec {
  /** v1/TeleChat2: base = theta * alpha^(dim/(dim-2)); 52B: base = theta * alpha. */
  alphaExponent: 'dim' | 'none';
  theta: number;
  /** Reference length of the NTK alpha rule. */
  refSeqlen: number;
  /** Length the model was trained at (training_seqlen; n_positions for 52B). */
  trainingSeqlen: number;
}

export interface ModelSpec {
  layout: LayoutName;
  architecture: string;
  hidden: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  eps: number;
  tiedEmbeddings: boolean;
  /** Bias on the attention output projection and on the MLP down projection (v1/TeleChat2). */
  outputBiases: boolean;
  /** Multiplier on the logits (52B muP: output_mult / mup_scale_factor). */
  logitScale: number;
  /** Multiplier on the embedding output (52B muP: input_mult). */
  embeddingScale: number;
  rope: RopeSpec;
  initializerRange: number;
  /**
   * Dropout probability on both residual branches (after the attention output projection and
   * after the MLP), training only: config.json's `hidden_dropout` (52B: `resid_pdrop`).
   */
  hiddenDropout: number;
  /** Dropout on the attention probabilities (`attention_dropout`; 52B: `attn_pdrop`): not implemented, warned about. */
  attentionDropout: number;
}

export const SUPPORTED_LAYOUTS =
  'telechat (TelechatForCausalLM, TeleChatForCausalLM, Telechat2ForCausalLM, TeleChat2ForCausalLM: hidden_size, n_layer, n_head, ffn_hidden_size) ' +
  'and telechat-52b (TELECHAT: n_embd, n_layer, n_head, n_inner)';

const TELECHAT_ARCHITECTURES = ['TelechatForCausalLM', 'TeleChatForCausalLM', 'Telechat2ForCausalLM', 'TeleChat2ForCausalLM'];
const TELECHAT_52B_ARCHITECTURES = ['TELECHAT', 'TelechatForCausalLM', 'TeleChatForCausalLM'];

export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

type RawConfig = Record<string, unknown>;

export function loadModelSpec(configPath: string): ModelSpec {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    throw new ModelConfigError(`${configPath}: cannot read model config: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    // where, as FILE:LINE:COLUMN (V8's message has at most a character offset)
    raw = parseJsonWhere(text, configPath, 'invalid JSON in the model config');
  } catch (err) {
    throw new ModelConfigError((err as Error).message);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ModelConfigError(`${configPath}: model config must be a JSON object`);
  }
  return parseModelSpec(raw as RawConfig, configPath);
}

export function parseModelSpec(cfg: RawConfig, where = 'config.json'): ModelSpec {
  const architecture = readArchitecture(cfg, where);
  const is52b = 'n_embd' in cfg;
  const known = is52b ? TELECHAT_52B_ARCHITECTURES : TELECHAT_ARCHITECTURES;
  if (architecture !== '' && !known.includes(architecture)) {
    throw new ModelConfigError(
      `${where}: unknown architecture "${architecture}" for ${is52b ? 'an n_embd (52B-style)' : 'a hidden_size'} config; supported layouts: ${SUPPORTED_LAYOUTS}`,
    );
  }
  if (!is52b && !('hidden_size' in cfg)) {
    throw new ModelConfigError(`${where}: missing key "hidden_size" (or "n_embd" for the 52B layout); supported layouts: ${SUPPORTED_LAYOUTS}`);
  }
  const spec = is52b ? parse52b(cfg, where, architecture) : parseTelechat(cfg, where, architecture);
  validateShape(spec, where, is52b);
  return spec;
}

function readArchitecture(cfg: RawConfig, where: string): string {
  const archs = cfg['architectures'];
  if (archs === undefined) return '';
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') {
    throw new ModelConfigError(`${where}: "architectures" must be a non-empty list of strings`);
  }
  return archs[0];
}

function parseTelechat(cfg: RawConfig, where: string, architecture: string): ModelSpec {
  // Keys of TelechatConfig that would change the math; the public checkpoints all set them false.
  refuseValue(cfg, 'apply_residual_connection_post_layernorm', true, where, 'the residual is the block input (pre-norm); taking it after the layernorm is not implemented');
  refuseValue(cfg, 'embed_layernorm', true, where, 'a layernorm after the word embeddings is not implemented (no checkpoint has its weights)');
  const hidden = int(cfg, 'hidden_size', where);
  const nHeads = int(cfg, 'n_head', where);
  const vocab = int(cfg, 'vocab_size', where);
  const tied = optBool(cfg, 'tie_word_embeddings', where) ?? true; // HF default when absent (7B)
  const trainingSeqlen = int(cfg, 'training_seqlen', where);
  // REF of the NTK rule: base_seqlen (TeleChat2), else 8192, but 4096 for the 7B-shaped
  // checkpoint (tied embeddings and vocab 160256).
  const baseSeqlen = optInt(cfg, 'base_seqlen', where);
  const refSeqlen = baseSeqlen ?? (tied && vocab === 160256 ? 4096 : 8192);
  return {
    layout: 'telechat',
    architecture: architecture || 'TelechatForCausalLM',
    hidden,
    nLayers: int(cfg, 'n_layer', where),
    nHeads,
    nKvHeads: optInt(cfg, 'num_key_value_heads', where) ?? nHeads,
    headDim: Math.floor(hidden / nHeads),
    ffn: int(cfg, 'ffn_hidden_size', where),
    vocab,
    eps: optNum(cfg, 'layer_norm_epsilon', where) ?? 1e-5,
    tiedEmbeddings: tied,
    outputBiases: true,
    logitScale: 1,
    embeddingScale: 1,
    rope: { alphaExponent: 'dim', theta: 10000, refSeqlen, trainingSeqlen },
    initializerRange: optNum(cfg, 'initializer_range', where) ?? 0.02,
    hiddenDropout: probability(cfg, 'hidden_dropout', where),
    attentionDropout: probability(cfg, 'attention_dropout', where),
  };
}

function parse52b(cfg: RawConfig, where: string, architecture: string): ModelSpec {
  const hidden = int(cfg, 'n_embd', where);
  const nHeads = int(cfg, 'n_head', where);
  const activation = cfg['activation_function'];
  if (activation !== undefined && activation !== 'silu') {
    throw new ModelConfigError(`${where}: "activation_function" is "${String(activation)}"; the 52B layout supports only "silu"`);
  }
  if (cfg['add_bias_linear'] === true) {
    throw new ModelConfigError(`${where}: "add_bias_linear" true is not supported for the 52B layout (its checkpoints have no biases)`);
  }
  if (cfg['use_RMSNorm'] === false) {
    throw new ModelConfigError(`${where}: "use_RMSNorm" false (LayerNorm) is not supported`);
  }
  const encoding = cfg['relative_encoding'];
  if (encoding !== undefined && encoding !== null && encoding !== 'rotary') {
    throw new ModelConfigError(`${where}: "relative_encoding" is ${JSON.stringify(encoding)}; the 52B layout supports only "rotary"`);
  }
  refuseValue(cfg, 'rotary_use_xpos', true, where, 'xPos rotary scaling is not implemented (only plain rotary)');
  // GPT-2's switch for the 1/sqrt(head_dim) score scale; false would drop it
  refuseValue(cfg, 'scale_attn_weights', false, where, 'attention scores are always scaled by 1/sqrt(head_dim)');
  if (probability(cfg, 'embd_pdrop', where) > 0) {
    throw new ModelConfigError(`${where}: "embd_pdrop" is ${String(cfg['embd_pdrop'])}: dropout on the embeddings is not implemented; set it to 0`);
  }
  // scale_attn_by_inverse_layer_idx is accepted: Tele-AI's code divides the scores by the layer
  // index and multiplies them back (or ignores it on the flash path), so it has no net effect.
  const useMup = optBool(cfg, 'use_mup', where) ?? false;
  const logitScale = useMup ? (optNum(cfg, 'output_mult', where) ?? 1) / num(cfg, 'mup_scale_factor', where) : 1;
  const embeddingScale = useMup ? (optNum(cfg, 'input_mult', where) ?? 1) : 1;
  return {
    layout: 'telechat-52b',
    architecture: architecture || 'TELECHAT',
    hidden,
    nLayers: int(cfg, 'n_layer', where),
    nHeads,
    nKvHeads: nHeads,
    headDim: Math.floor(hidden / nHeads),
    // HF's GPT-2-style TELECHATBlock: n_inner null or absent is 4 * n_embd
    ffn: optInt(cfg, 'n_inner', where) ?? 4 * hidden,
    vocab: int(cfg, 'vocab_size', where),
    eps: optNum(cfg, 'layer_norm_epsilon', where) ?? 1e-5,
    tiedEmbeddings: optBool(cfg, 'tie_word_embeddings', where) ?? true, // HF default when absent
    outputBiases: false,
    logitScale,
    embeddingScale,
    rope: { alphaExponent: 'none', theta: optNum(cfg, 'rotary_theta', where) ?? 10000, refSeqlen: 4096, trainingSeqlen: int(cfg, 'n_positions', where) },
    initializerRange: optNum(cfg, 'initializer_range', where) ?? 0.02,
    // GPT-2 names: resid_pdrop sits where v1's hidden_dropout does (after c_proj of the
    // attention and of the MLP, before the residual add)
    hiddenDropout: probability(cfg, 'resid_pdrop', where),
    attentionDropout: probability(cfg, 'attn_pdrop', where),
  };
}

function validateShape(spec: ModelSpec, where: string, is52b: boolean): void {
  const hiddenKey = is52b ? 'n_embd' : 'hidden_size';
  if (spec.hidden % spec.nHeads !== 0) {
    throw new ModelConfigError(`${where}: "n_head" (${spec.nHeads}) does not divide "${hiddenKey}" (${spec.hidden})`);
  }
  if (spec.headDim % 2 !== 0) {
    throw new ModelConfigError(`${where}: head dim ${hiddenKey}/n_head = ${spec.headDim} must be even for rotary embeddings`);
  }
  if (spec.nHeads % spec.nKvHeads !== 0) {
    throw new ModelConfigError(`${where}: "num_key_value_heads" (${spec.nKvHeads}) does not divide "n_head" (${spec.nHeads})`);
  }
}

/** Refuses `key` when it holds `bad` (absent or null = the default, which is supported). */
function refuseValue(cfg: RawConfig, key: string, bad: boolean, where: string, why: string): void {
  const v = optBool(cfg, key, where);
  if (v === bad) throw new ModelConfigError(`${where}: "${key}" is ${String(bad)}, which is not supported: ${why}`);
}

/** A dropout probability in [0, 1); absent or null = 0. */
function probability(cfg: RawConfig, key: string, where: string): number {
  const v = optNum(cfg, key, where);
  if (v === undefined) return 0;
  if (v < 0 || v >= 1) throw new ModelConfigError(`${where}: "${key}" must be a probability in [0, 1), got ${v}`);
  return v;
}

function int(cfg: RawConfig, key: string, where: string): number {
  const v = num(cfg, key, where);
  if (!Number.isInteger(v) || v <= 0) throw new ModelConfigError(`${where}: "${key}" must be a positive integer, got ${JSON.stringify(cfg[key])}`);
  return v;
}

function num(cfg: RawConfig, key: string, where: string): number {
  if (!(key in cfg)) throw new ModelConfigError(`${where}: missing key "${key}"`);
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelConfigError(`${where}: "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function optInt(cfg: RawConfig, key: string, where: string): number | undefined {
  return cfg[key] === undefined || cfg[key] === null ? undefined : int(cfg, key, where);
}

function optNum(cfg: RawConfig, key: string, where: string): number | undefined {
  return cfg[key] === undefined || cfg[key] === null ? undefined : num(cfg, key, where);
}

function optBool(cfg: RawConfig, key: string, where: string): boolean | undefined {
  const v = cfg[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ModelConfigError(`${where}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

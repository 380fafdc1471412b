// A tiny schema language for the config: each key has a type, a default and (for Hugging Face
// style configs) whether "auto" is allowed. The validator walks it to reject unknown keys and
// wrong types; the resolver fills defaults from it, so every default lives in exactly one place.

interface Common {
  /** The string "auto" is accepted and resolved later the Hugging Face way. */
  auto?: boolean;
  /** null is a valid value (for "unset" / "derive it"). */
  nullable?: boolean;
  /**
   * null only marks the key as not given, which the resolver refuses (lora.r): a type error then
   * describes the values without "or null".
   */
  required?: boolean;
  /**
   * Accepted but without effect here: a value given in the config other than `asIf` (default:
   * the key's default) gets a warning naming the key and this reason.
   */
  inert?: string;
  /** The value telechat-train behaves as, whatever is given (for `inert` keys). */
  asIf?: number | boolean | string | null;
  /** A DeepSpeed feature telechat-train lacks: any value other than the default is refused with this reason. */
  unsupported?: string;
  /**
   * The key only matters when a sibling key (declared before it in the same block) has `value`:
   * ZeRO's stage3_* keys need "stage" 3. Otherwise a value other than "auto", the default or
   * `asIf` gets a warning saying so, in place of the `inert` one.
   */
  onlyWhen?: { key: string; value: number; what: string };
}

export interface NumberSpec extends Common {
  kind: 'number';
  int?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive lower bound (for "> 0"). */
  above?: number;
  default: number | null;
}

export interface BooleanSpec extends Common {
  kind: 'boolean';
  default: boolean | null;
}

export interface StringSpec extends Common {
  kind: 'string';
  /** Allowed values; matched case-insensitively when `ignoreCase`, stored as listed here. */
  oneOf?: readonly string[];
  ignoreCase?: boolean;
  /** Other spellings of `oneOf` values, stored as the value they name (DeepSpeed's DtypeEnum: "bfloat16" = "bf16"). */
  synonyms?: Readonly<Record<string, string>>;
  default: string | null;
}

export interface ArraySpec extends Common {
  kind: 'array';
  items: NumberSpec | StringSpec;
  /** Exact length (betas: 2). */
  length?: number;
  /** Values accepted alone in place of the array, as a one-item array (PEFT's target_modules="all-linear"). */
  single?: readonly string[];
  /** Why another single string is refused (PEFT reads it as a regular expression). */
  singleOther?: string;
  default: readonly (number | string)[] | null;
}

/** A nested block. `optional` blocks are not filled with defaults when absent (the resolver decides). */
export interface ObjectSpec {
  kind: 'object';
  fields: Record<string, Spec>;
  optional?: boolean;
  /** null stands for the block left out (DeepSpeed's Optional blocks: "offload_param": null). */
  nullable?: boolean;
  /** Other names accepted for a field (DeepSpeed's pydantic aliases and deprecated names). */
  aliases?: Record<string, { to: string; deprecated?: boolean }>;
}

/** `{type, params}` blocks (optimizer, scheduler): `params` is checked against the type's spec. */
export interface TaggedSpec {
  kind: 'tagged';
  types: Record<string, ObjectSpec>;
  /** Optimizer names are case-insensitive in DeepSpeed ("adamw" = "AdamW"). */
  ignoreCase?: boolean;
  /**
   * Types DeepSpeed (or torch, which it falls back to) knows and telechat-train lacks, with the
   * reason: refused by name, never with a "did you mean" for a type we have. Matched ignoring case.
   */
  refused?: Record<string, string>;
  /** Keys beside `type` and `params` (DeepSpeed's optimizer.legacy_fusion). */
  extra?: Record<string, Spec>;
}

/**
 * DeepSpeed blocks that have no effect here: any JSON is kept verbatim, with a warning saying
 * `why`. When `active` finds the block asking for something telechat-train lacks (e.g.
 * `"enabled": true`, a parallel size above 1) it returns the dotted sub-key at fault ('' for
 * the block itself) and the block is refused with `lacks` instead: silently training without
 * it would not be what the config asked for.
 */
export interface PassthroughSpec {
  kind: 'passthrough';
  why: string;
  active?: (v: unknown) => string | null;
  lacks?: string;
  /**
   * DeepSpeed's own keys of the block (its pydantic model, which forbids others): an unknown key
   * or a wrong type is refused as DeepSpeed refuses it; the block is still kept verbatim.
   */
  shape?: ObjectSpec;
}

/**
 * An option of any JSON shape that telechat-train lacks (PEFT's LoraConfig options): its default
 * (or null / {} for an object default, as PEFT writes either) is accepted silently, as if absent;
 * another value is refused with `unsupported`, or warned about with `inert`.
 */
export interface AnySpec {
  kind: 'any';
  default: unknown;
  unsupported?: string;
  inert?: string;
}

export type Spec = NumberSpec | BooleanSpec | StringSpec | ArraySpec | ObjectSpec | TaggedSpec | PassthroughSpec | AnySpec;

// Small constructors keep the schema readable.
export const num = (def: number | null, o: Omit<NumberSpec, 'kind' | 'default'> = {}): NumberSpec => ({ kind: 'number', default: def, ...o });
export const int = (def: number | null, o: Omit<NumberSpec, 'kind' | 'default' | 'int'> = {}): NumberSpec => ({ kind: 'number', int: true, default: def, ...o });
export const bool = (def: boolean | null, o: Omit<BooleanSpec, 'kind' | 'default'> = {}): BooleanSpec => ({ kind: 'boolean', default: def, ...o });
export const str = (def: string | null, o: Omit<StringSpec, 'kind' | 'default'> = {}): StringSpec => ({ kind: 'string', default: def, ...o });
export const oneOf = (values: readonly string[], def: string | null, o: Omit<StringSpec, 'kind' | 'default' | 'oneOf'> = {}): StringSpec => ({
  kind: 'string',
  oneOf: values,
  default: def,
  ...o,
});
export const obj = (fields: Record<string, Spec>, o: Omit<ObjectSpec, 'kind' | 'fields'> = {}): ObjectSpec => ({ kind: 'object', fields, ...o });
export const passthrough = (why: string, o: Omit<PassthroughSpec, 'kind' | 'why'> = {}): PassthroughSpec => ({ kind: 'passthrough', why, ...o });
export const any = (def: unknown, o: Omit<AnySpec, 'kind' | 'default'>): AnySpec => ({ kind: 'any', default: def, ...o });

/** For `any` keys: the value asks for nothing (its default, or null / {} standing for an empty-object default). */
export function isDefaultValue(v: unknown, def: unknown): boolean {
  if (JSON.stringify(v) === JSON.stringify(def)) return true;
  const emptyObject = (x: unknown): boolean => typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length === 0;
  return typeof def === 'object' && def !== null && !Array.isArray(def) && (v === null || emptyObject(v));
}

/** `active` rule: the first `"enabled": true` anywhere in the block (its dotted path), else null. */
export function enabledAnywhere(v: unknown, path = ''): string | null {
  if (typeof v !== 'object' || v === null) return null;
  for (const [k, x] of Object.entries(v)) {
    const p = path === '' ? k : `${path}.${k}`;
    if (k === 'enabled' && x === true) return p;
    const hit = enabledAnywhere(x, p);
    if (hit !== null) return hit;
  }
  return null;
}

/** `active` rule: `"enabled": true` at the top of the block only. */
export function enabledAtTop(v: unknown): string | null {
  return typeof v === 'object' && v !== null && (v as Record<string, unknown>)['enabled'] === true ? 'enabled' : null;
}

/** `active` rule: a key named like a parallel size (`*_size`, `size`) above 1 anywhere in the block. */
export function sizeAboveOne(v: unknown, path = ''): string | null {
  if (typeof v !== 'object' || v === null) return null;
  for (const [k, x] of Object.entries(v)) {
    const p = path === '' ? k : `${path}.${k}`;
    if (/(^|_)size$/.test(k) && typeof x === 'number' && x > 1) return p;
    const hit = sizeAboveOne(x, p);
    if (hit !== null) return hit;
  }
  return null;
}

/** `active` rule: any content at all (an empty block or null asks for nothing). */
export function anyContent(v: unknown): string | null {
  if (v === null || v === false) return null;
  if (typeof v === 'object' && Object.keys(v).length === 0) return null;
  return '';
}

/** How the spec's type reads in an error message. */
export function describe(spec: Spec): string {
  let base: string;
  switch (spec.kind) {
    case 'number': {
      base = spec.int ? 'an integer' : 'a number';
      const bounds: string[] = [];
      if (spec.above !== undefined) bounds.push(`> ${spec.above}`);
      if (spec.min !== undefined) bounds.push(`>= ${spec.min}`);
      if (spec.max !== undefined) bounds.push(`<= ${spec.max}`);
      if (bounds.length) base += ` ${bounds.join(' and ')}`;
      break;
    }
    case 'boolean':
      base = 'true or false';
      break;
    case 'string':
      base = spec.oneOf ? `one of ${spec.oneOf.map((v) => JSON.stringify(v)).join(', ')}` : 'a string';
      break;
    case 'array':
      base = `an array of ${spec.length ?? 'any number of'} ${spec.items.kind === 'number' ? 'numbers' : 'strings'}`;
      if (spec.items.kind === 'string' && spec.items.oneOf) base += ` (${spec.items.oneOf.map((v) => JSON.stringify(v)).join(', ')})`;
      if (spec.single) base += `, or ${spec.single.map((v) => JSON.stringify(v)).join(' or ')} alone`;
      break;
    case 'object':
    case 'tagged':
      base = 'an object';
      break;
    case 'passthrough':
    case 'any':
      base = 'any value';
      break;
  }
  if ('auto' in spec && spec.auto) base += ' or "auto"';
  if ('nullable' in spec && spec.nullable && !('required' in spec && spec.required)) base += ' or null';
  return base;
}

// Walks a parsed config against the schema: rejects unknown keys (naming the dotted path and
// the closest valid key) and wrong types (naming the key, the expected type and the value),
// maps aliases, and fills every absent key with its default. "auto" stays for resolve.ts.
// A key given in the file is checked against its audit (spec.ts): `unsupported` values and
// active passthrough blocks are refused by name, `inert` values and passthrough blocks warn.
import { ConfigError, show, type Warnings } from './errors.js';
import { describe, isDefaultValue, type AnySpec, type ObjectSpec, type PassthroughSpec, type Spec, type TaggedSpec } from './spec.js';
import { HF_ARGUMENT_HOMES } from './hf_names.js';
import { closest, nearMiss } from './suggest.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Says where a dotted key came from: the config file, or the --set flag that wrote it. */
export type Origin = (path: string) => string;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Validator {
  readonly warnings: Warnings = [];
  constructor(
    private readonly root: ObjectSpec,
    private readonly origin: Origin,
  ) {}

  /** Dotted paths of keys given by an alias, as written (--set blames the spelling it wrote). */
  private readonly writtenPaths = new Map<string, string>();

  /** The origin of a key, looked up by the spelling it was given as. */
  private at(path: string): string {
    for (const [target, written] of this.writtenPaths) {
      if (path === target || path.startsWith(target + '.')) return this.origin(written + path.slice(target.length));
    }
    return this.origin(path);
  }

  fail(path: string, reason: string): never {
    throw new ConfigError(`${this.at(path)}: ${reason}`);
  }

  /**
   * `off` names where the key matters when it does not here (`onlyWhen`): a value that asks for
   * something then gets that warning instead of the key's own audit.
   */
  value(spec: Spec, v: unknown, path: string, off?: string): Json {
    if (spec.kind === 'passthrough') {
      if (spec.shape) this.object(spec.shape, v, path);
      const hit = spec.active?.(v) ?? null;
      if (hit !== null) {
        const at = hit === '' ? path : `${path}.${hit}`;
        const value = hit === '' ? '' : `: ${show(hit.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], v))}`;
        this.fail(at, `"${at}"${value} is not supported: ${spec.lacks ?? spec.why}`);
      }
      this.warnings.push(`${this.at(path)}: "${path}" is accepted but has no effect in telechat-train (${spec.why})`);
      return v as Json;
    }
    if (spec.kind === 'any') {
      if (isDefaultValue(v, spec.default)) return v as Json;
      if (spec.unsupported !== undefined) this.fail(path, `"${path}": ${show(v)} is not supported: ${spec.unsupported}`);
      this.warnings.push(`${this.at(path)}: "${path}": ${show(v)} has no effect in telechat-train (${spec.inert ?? 'no reason given'})`);
      return v as Json;
    }
    if (spec.kind === 'object') return this.object(spec, v, path);
    if (spec.kind === 'tagged') return this.tagged(spec, v, path);
    const out = this.leaf(spec, v, path);
    // What the run behaves as, whatever is given: resolved-config.json records what the run does.
    const asIf = (x: Json): Json => (spec.asIf !== undefined ? spec.asIf : x);
    if (out === 'auto' || out === null) return out;
    if (spec.unsupported !== undefined && !sameJson(out, spec.default)) {
      this.fail(path, `"${path}": ${show(out)} is not supported: ${spec.unsupported}`);
    }
    if (off !== undefined) {
      // DeepSpeed's default (TeleChat's and LLaMA-Factory's stage-1/2 configs carry some) or the
      // value the run behaves as asks for nothing: a warning on it would be noise.
      if (!sameJson(out, spec.default) && !(spec.asIf !== undefined && sameJson(out, spec.asIf))) {
        this.warnings.push(`${this.at(path)}: "${path}": ${show(out)} has no effect in telechat-train (it only applies ${off})`);
      }
      return asIf(out);
    }
    if (spec.inert !== undefined && !sameJson(out, spec.asIf !== undefined ? spec.asIf : spec.default)) {
      this.warnings.push(`${this.at(path)}: "${path}": ${show(out)} has no effect in telechat-train (${spec.inert})`);
    }
    return asIf(out);
  }

  private leaf(spec: Exclude<Spec, ObjectSpec | TaggedSpec | PassthroughSpec | AnySpec>, v: unknown, path: string): Json {
    const typeError = (): never => this.fail(path, `key "${path}" expects ${describe(spec)}, got ${show(v)}`);
    if (v === 'auto' && spec.auto) return 'auto';
    if (v === null && spec.nullable) return null;
    switch (spec.kind) {
      case 'number': {
        if (typeof v !== 'number' || !Number.isFinite(v)) return typeError();
        if (spec.int && !Number.isInteger(v)) return typeError();
        if (spec.min !== undefined && v < spec.min) return typeError();
        if (spec.max !== undefined && v > spec.max) return typeError();
        if (spec.above !== undefined && !(v > spec.above)) return typeError();
        return v;
      }
      case 'boolean':
        return typeof v === 'boolean' ? v : typeError();
      case 'string': {
        if (typeof v !== 'string') return typeError();
        if (!spec.oneOf) return v;
        const named = spec.synonyms !== undefined && Object.hasOwn(spec.synonyms, v) ? spec.synonyms[v]! : v;
        const hit = spec.oneOf.find((o) => (spec.ignoreCase ? o.toLowerCase() === named.toLowerCase() : o === named));
        return hit ?? typeError();
      }
      case 'array': {
        if (typeof v === 'string' && spec.single?.includes(v)) return [v];
        if (typeof v === 'string' && spec.singleOther !== undefined) this.fail(path, `key "${path}" ${show(v)}: ${spec.singleOther}`);
        if (!Array.isArray(v)) return typeError();
        if (spec.length !== undefined && v.length !== spec.length) return typeError();
        return v.map((item, i) => {
          try {
            return this.value(spec.items, item, `${path}.${i}`);
          } catch {
            return typeError();
          }
        });
      }
    }
  }

  object(spec: ObjectSpec, v0: unknown, path: string): JsonObject {
    const v = v0 === null && spec.nullable ? {} : v0;
    if (!isObject(v)) this.fail(path, `key "${path}" expects ${describe(spec)}, got ${show(v)}`);
    const renamed: Record<string, unknown> = {};
    const writtenAs: Record<string, string> = {};
    for (const [key, val] of Object.entries(v)) {
      const alias = spec.aliases?.[key];
      const target = alias?.to ?? key;
      const keyPath = join(path, key);
      if (!(target in spec.fields)) this.unknownKey(spec, key, keyPath);
      if (target in renamed) this.fail(keyPath, `"${join(path, writtenAs[target]!)}" and "${keyPath}" are the same setting; give only one`);
      if (alias?.deprecated) this.warnings.push(`${this.at(keyPath)}: "${keyPath}" is deprecated; use "${join(path, target)}"`);
      renamed[target] = val;
      writtenAs[target] = key;
      if (alias) this.writtenPaths.set(join(path, target), keyPath);
    }
    const out: JsonObject = {};
    for (const [key, fieldSpec] of Object.entries(spec.fields)) {
      const keyPath = join(path, key);
      const gate = 'onlyWhen' in fieldSpec ? fieldSpec.onlyWhen : undefined;
      const off = gate !== undefined && out[gate.key] !== gate.value ? `${gate.what}; "${join(path, gate.key)}" is ${show(out[gate.key])}` : undefined;
      if (key in renamed) out[key] = this.value(fieldSpec, renamed[key], keyPath, off);
      else if (fieldSpec.kind === 'object' && !fieldSpec.optional) out[key] = this.object(fieldSpec, {}, keyPath);
      else if (fieldSpec.kind !== 'object' && fieldSpec.kind !== 'tagged' && fieldSpec.kind !== 'passthrough' && fieldSpec.kind !== 'any') {
        const def = fieldSpec.asIf !== undefined ? fieldSpec.asIf : fieldSpec.default;
        out[key] = def === null ? null : structuredClone(def) as Json;
      }
    }
    return out;
  }

  tagged(spec: TaggedSpec, v: unknown, path: string): JsonObject {
    if (!isObject(v)) this.fail(path, `key "${path}" expects an object {"type": ..., "params": {...}}, got ${show(v)}`);
    const known = ['type', 'params', ...Object.keys(spec.extra ?? {})];
    for (const key of Object.keys(v)) {
      if (!known.includes(key)) this.fail(join(path, key), `unknown key "${join(path, key)}" (did you mean "${closest(key, known)}"?)`);
    }
    const names = Object.keys(spec.types);
    const listed = names.map((n) => JSON.stringify(n)).join(', ');
    const t = v['type'];
    const typePath = join(path, 'type');
    if (t === undefined) this.fail(typePath, `"${typePath}" is missing: the "${path}" block needs a "type" (one of ${listed})`);
    if (typeof t !== 'string') this.fail(typePath, `key "${typePath}" expects one of ${listed}, got ${show(t)}`);
    const name = names.find((n) => (spec.ignoreCase ? n.toLowerCase() === t.toLowerCase() : n === t));
    if (name === undefined) {
      // A type DeepSpeed has and we lack is refused by name; only a near miss of ours is a typo.
      const lacked = Object.entries(spec.refused ?? {}).find(([n]) => n.toLowerCase() === t.toLowerCase());
      if (lacked) this.fail(typePath, `"${typePath}": ${show(t)} is not supported: ${lacked[1]} (supported: ${names.join(', ')})`);
      // only a near miss is a typo worth naming: another library's schedule is not one of ours
      const typo = nearMiss(t, names);
      this.fail(typePath, `unsupported ${path} type ${show(t)}${typo !== null ? ` (did you mean "${typo}"?)` : ''}; supported: ${names.join(', ')}`);
    }
    const body = spec.types[name]!;
    const rawParams = v['params'] ?? {};
    if (isObject(rawParams)) {
      // A parameter of a sibling type (total_num_steps under WarmupLR) deserves a precise hint.
      for (const key of Object.keys(rawParams)) {
        if (key in body.fields || (body.aliases && key in body.aliases)) continue;
        const owners = names.filter((n) => key in spec.types[n]!.fields || key in (spec.types[n]!.aliases ?? {}));
        const keyPath = join(join(path, 'params'), key);
        if (owners.length) this.fail(keyPath, `unknown key "${keyPath}" for ${path} type ${name} (it is a parameter of ${owners.join(', ')})`);
      }
    }
    const params = this.object(body, rawParams, join(path, 'params'));
    const out: JsonObject = { type: name, params };
    for (const [key, extra] of Object.entries(spec.extra ?? {})) {
      if (key in v) out[key] = this.value(extra, v[key], join(path, key));
    }
    return out;
  }

  private unknownKey(spec: ObjectSpec, key: string, keyPath: string): never {
    const hfHome = HF_ARGUMENT_HOMES[key];
    if (hfHome !== undefined) this.fail(keyPath, `unknown key "${keyPath}" (a Hugging Face TrainingArguments name: telechat-train takes it from ${hfHome})`);
    const home = findHome(this.root, key, '');
    const here = keyPath.includes('.') ? keyPath.slice(0, keyPath.lastIndexOf('.')) : '';
    if (home !== null && home !== here) {
      this.fail(keyPath, `unknown key "${keyPath}" ("${key}" belongs in ${home === '' ? 'the top level' : `"${home}"`})`);
    }
    const suggestion = nearMiss(key, [...Object.keys(spec.fields), ...Object.keys(spec.aliases ?? {})]);
    if (suggestion !== null) this.fail(keyPath, `unknown key "${keyPath}" (did you mean "${suggestion}"?)`);
    const where = here === '' ? "neither DeepSpeed's config nor telechat-train's sections (model, data, training, lora) have it" : `"${here}" has no such key`;
    this.fail(keyPath, `unknown key "${keyPath}" (${where}): remove it`);
  }
}

/**
 * The keys that `cfg` may hold beside the last key of `path` for the same setting (its alias, or
 * the field an alias names and that field's other aliases, as the schema spells them at that
 * place; a {type, params} block's params as its given type's): a `--set` of one spelling then
 * replaces the file's other instead of clashing with it.
 */
export function sameSettingKeys(spec: ObjectSpec, path: readonly string[], cfg: JsonObject): string[] {
  const key = path[path.length - 1]!;
  const out = new Set<string>();
  for (const o of objectsAt(spec, path.slice(0, -1), cfg)) {
    const target = o.aliases?.[key]?.to ?? key;
    if (!(target in o.fields)) continue;
    if (target !== key) out.add(target);
    for (const [alias, { to }] of Object.entries(o.aliases ?? {})) if (to === target && alias !== key) out.add(alias);
  }
  return [...out];
}

/**
 * `path` with each key in the schema's own spelling (an alias replaced by the field it names,
 * e.g. lora.lora_alpha -> lora.alpha), so a --set written one way is matched to messages about the
 * setting; keys the schema does not know stay as written.
 */
export function canonicalPath(spec: ObjectSpec, path: readonly string[], cfg: JsonObject): string[] {
  const out: string[] = [];
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    const aliases = objectsAt(spec, path.slice(0, i), cfg).map((o) => o.aliases?.[key]?.to).filter((t): t is string => t !== undefined);
    out.push(aliases[0] ?? key);
  }
  return out;
}

/** The schema objects at `path` of `cfg` (a tagged block's params: its given type's, or none). */
function objectsAt(spec: ObjectSpec, path: readonly string[], cfg: Json | undefined): ObjectSpec[] {
  if (path.length === 0) return [spec];
  const [key, ...rest] = path as [string, ...string[]];
  const name = spec.aliases?.[key]?.to ?? key;
  const field = spec.fields[name];
  const node = isObject(cfg) ? cfg[key] : undefined;
  if (field?.kind === 'object') return objectsAt(field, rest, node);
  if (field?.kind === 'tagged' && rest[0] === 'params' && isObject(node) && typeof node['type'] === 'string') {
    const t = node['type'].toLowerCase();
    const body = Object.entries(field.types).find(([n]) => (field.ignoreCase ? n.toLowerCase() === t : n === node['type']))?.[1];
    return body ? objectsAt(body, rest.slice(1), node['params']) : [];
  }
  return [];
}

/** The dotted path of the first object in the schema that has `key` as a field, or null. */
function findHome(spec: ObjectSpec, key: string, path: string): string | null {
  if (key in spec.fields || (spec.aliases && key in spec.aliases)) return path;
  for (const [name, field] of Object.entries(spec.fields)) {
    if (field.kind === 'object') {
      const hit = findHome(field, key, join(path, name));
      if (hit !== null) return hit;
    } else if (field.kind === 'tagged') {
      for (const body of Object.values(field.types)) {
        const hit = findHome(body, key, join(join(path, name), 'params'));
        if (hit !== null) return hit;
      }
    }
  }
  return null;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

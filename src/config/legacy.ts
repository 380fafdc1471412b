// DeepSpeed still accepts some old spellings; rewrite them to the current form (with a
// warning) before validation, so the rest of the code only sees one shape.
//   "zero_optimization": true|false      -> {"stage": 1} | {"stage": 0}
//   zero_optimization.cpu_offload        -> offload_optimizer {device "cpu"}
//   zero_optimization.cpu_offload_param  -> offload_param {device "cpu"}
//   zero_optimization.cpu_offload_use_pin_memory -> pin_memory of those blocks
import { show, type Warnings } from './errors.js';
import { isObject, type JsonObject, type Origin } from './validate.js';
import { ConfigError } from './errors.js';

export function upgradeLegacyForms(cfg: JsonObject, origin: Origin, warnings: Warnings): JsonObject {
  const out: JsonObject = { ...cfg };
  const zero = out['zero_optimization'];
  if (typeof zero === 'boolean') {
    warnings.push(
      `${origin('zero_optimization')}: "zero_optimization": ${zero} is a legacy form; read as {"stage": ${zero ? 1 : 0}}`,
    );
    out['zero_optimization'] = { stage: zero ? 1 : 0 };
    return out;
  }
  if (!isObject(zero)) return out;
  const z: JsonObject = { ...zero };
  const bool = (key: string): boolean | undefined => {
    const v = z[key];
    if (v === undefined) return undefined;
    const path = `zero_optimization.${key}`;
    if (typeof v !== 'boolean') throw new ConfigError(`${origin(path)}: key "${path}" expects true or false, got ${show(v)}`);
    delete z[key];
    return v;
  };
  const pin = bool('cpu_offload_use_pin_memory');
  const moves: [string, string][] = [
    ['cpu_offload', 'offload_optimizer'],
    ['cpu_offload_param', 'offload_param'],
  ];
  for (const [oldKey, newKey] of moves) {
    const on = bool(oldKey);
    if (on === undefined) continue;
    const oldPath = `zero_optimization.${oldKey}`;
    const newPath = `zero_optimization.${newKey}`;
    if (z[newKey] !== undefined) {
      throw new ConfigError(`${origin(oldPath)}: "${oldPath}" (deprecated) and "${newPath}" are the same setting; keep only "${newPath}"`);
    }
    warnings.push(`${origin(oldPath)}: "${oldPath}" is deprecated; read as "${newPath}": {"device": "${on ? 'cpu' : 'none'}"}`);
    z[newKey] = { device: on ? 'cpu' : 'none', pin_memory: pin ?? false };
  }
  if (pin !== undefined) {
    warnings.push(`${origin('zero_optimization.cpu_offload_use_pin_memory')}: "zero_optimization.cpu_offload_use_pin_memory" is deprecated; use the offload blocks' "pin_memory"`);
  }
  out['zero_optimization'] = z;
  return out;
}

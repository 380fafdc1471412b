// What the CPU kernel timing scripts (attention_cpu.mjs, lora_cpu.mjs) share: their positional
// arguments, checked, and best-of-REPS timing of one kernel's forward and backward under each value
// of the environment variable that picks its path (the addon reads it on every call), alternating
// in one process so both paths see the same machine.

/**
 * Positional arguments by `spec`, a list of [name, default] or [name, default, choices]: a number
 * default takes a positive integer, a choices entry one of the choices. Refuses more arguments
 * than the spec names, or a bad one, by name.
 */
export function parseArgs(spec, argv = process.argv.slice(2)) {
  if (argv.length > spec.length) {
    throw new Error(`at most ${spec.length} arguments (${spec.map(([n]) => n).join(' ')}), got ${argv.length}`);
  }
  const args = {};
  spec.forEach(([name, fallback, choices], i) => {
    const given = argv[i];
    if (choices) {
      const v = given ?? fallback;
      if (!choices.includes(v)) throw new Error(`${name} must be one of ${choices.join(', ')}, got ${v}`);
      args[name] = v;
    } else {
      const v = given === undefined ? fallback : Number(given);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer, got ${given}`);
      args[name] = v;
    }
  });
  return args;
}

/**
 * Times `phases.fwd()` then `phases.bwd()` under `envVar` = each of `paths`: one untimed call per
 * path first (scratch, code pages), then REPS rounds in alternating order. Returns the best ms
 * per phase and `describe()` read under each path. A preset envVar is refused: it would be
 * overwritten.
 */
export function timePaths(envVar, paths, reps, phases, describe) {
  if (process.env[envVar] !== undefined) throw new Error(`unset ${envVar}: this script sets it per path`);
  const best = {}, text = {};
  for (const p of paths) {
    process.env[envVar] = p;
    text[p] = describe();
    phases.fwd();
    phases.bwd();
    best[p] = { fwd: Infinity, bwd: Infinity };
  }
  for (let i = 0; i < reps; i++) {
    for (const p of i % 2 === 0 ? paths : [...paths].reverse()) {
      process.env[envVar] = p;
      const t0 = performance.now();
      phases.fwd();
      const t1 = performance.now();
      phases.bwd();
      const t2 = performance.now();
      best[p].fwd = Math.min(best[p].fwd, t1 - t0);
      best[p].bwd = Math.min(best[p].bwd, t2 - t1);
    }
  }
  delete process.env[envVar];
  return { best, text };
}

/** "  LABEL fwd F  bwd B  total F+B" in ms, to `digits` decimals. */
export function timingLine(label, { fwd, bwd }, digits = 1) {
  return `  ${label.padEnd(13)} fwd ${fwd.toFixed(digits)}  bwd ${bwd.toFixed(digits)}  total ${(fwd + bwd).toFixed(digits)}`;
}

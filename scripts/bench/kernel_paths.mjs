// What the CPU kernel timing scripts (attention_cpu.mjs, lora_cpu.mjs, adapter_order_cpu.mjs) share:
// their positional arguments, checked, and best-of-REPS timing of forward and backward variants,
// alternating in one process so every variant sees the same machine; the variants are often the
// values of the environment variable that picks a kernel's path (the addon reads it on every call).

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
 * Best ms of `fwd()` then `bwd()` for each entry of `variants` ({ name: { fwd, bwd } }): one
 * untimed call of each first (scratch, code pages), then REPS rounds in alternating order, so
 * every variant sees the same machine.
 */
export function timeVariants(variants, reps) {
  const names = Object.keys(variants);
  const best = {};
  for (const n of names) {
    variants[n].fwd();
    variants[n].bwd();
    best[n] = { fwd: Infinity, bwd: Infinity };
  }
  for (let i = 0; i < reps; i++) {
    for (const n of i % 2 === 0 ? names : [...names].reverse()) {
      const t0 = performance.now();
      variants[n].fwd();
      const t1 = performance.now();
      variants[n].bwd();
      const t2 = performance.now();
      best[n].fwd = Math.min(best[n].fwd, t1 - t0);
      best[n].bwd = Math.min(best[n].bwd, t2 - t1);
    }
  }
  return best;
}

/**
 * timeVariants of `phases.fwd()` then `phases.bwd()` under `envVar` = each of `paths` (the addon
 * reads it on every call). Returns the best ms per phase and `describe()` read under each path.
 * A preset envVar is refused: it would be overwritten.
 */
export function timePaths(envVar, paths, reps, phases, describe) {
  if (process.env[envVar] !== undefined) throw new Error(`unset ${envVar}: this script sets it per path`);
  const under = (p, f) => () => {
    process.env[envVar] = p;
    f();
  };
  try {
    const text = {};
    for (const p of paths) {
      process.env[envVar] = p;
      text[p] = describe();
    }
    const best = timeVariants(Object.fromEntries(paths.map((p) => [p, { fwd: under(p, phases.fwd), bwd: under(p, phases.bwd) }])), reps);
    return { best, text };
  } finally {
    delete process.env[envVar];
  }
}

/** "  LABEL fwd F  bwd B  total F+B" in ms, to `digits` decimals. */
export function timingLine(label, { fwd, bwd }, digits = 1) {
  return `  ${label.padEnd(15)} fwd ${fwd.toFixed(digits)}  bwd ${bwd.toFixed(digits)}  total ${(fwd + bwd).toFixed(digits)}`;
}

// Fault injection for crash-safety tests: TELECHAT_FAULT_AT=<point> or <point>@<step> kills
// this process with SIGKILL when it reaches that point (e.g. "save:after-shards@8"), as a
// power cut would; enospc:<point>[@<step>] throws the error a full disk gives there instead;
// pause:<point>[@<step>] blocks the thread for a minute there, as a slow save would (signals
// must still end the process); sigint:<point> and sigterm:<point> send this process that signal
// there, as one arriving at that moment would. Unset, it costs one comparison.
export function faultPoint(point: string, step?: number): void {
  const at = process.env.TELECHAT_FAULT_AT;
  if (at === undefined) return;
  const here = (p: string): boolean => at === p || (step !== undefined && at === `${p}@${step}`);
  if (here(point)) process.kill(process.pid, 'SIGKILL');
  if (here(`enospc:${point}`)) {
    throw Object.assign(new Error(`ENOSPC: no space left on device, write (injected at ${point})`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  }
  if (here(`sigint:${point}`)) process.kill(process.pid, 'SIGINT');
  if (here(`sigterm:${point}`)) process.kill(process.pid, 'SIGTERM');
  if (here(`pause:${point}`)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}

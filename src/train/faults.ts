// Fault injection for crash-safety tests: TELECHAT_FAULT_AT=<point> or <point>@<step> kills
// this process with SIGKILL when it reaches that point (e.g. "save:after-shards@8"), as a
// power cut would. Unset, it costs one comparison.
export function faultPoint(point: string, step?: number): void {
  const at = process.env.TELECHAT_FAULT_AT;
  if (at === undefined) return;
  if (at === point || (step !== undefined && at === `${point}@${step}`)) process.kill(process.pid, 'SIGKILL');
}

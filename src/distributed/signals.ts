// Signal numbers, shared by the launcher (a worker's exit status) and a rank's clean stop
// (its own exit status, 128 + n), so a rank does not import the launcher to compute one.
import { constants as osConstants } from 'node:os';

/** The OS number of a signal (exit status 128 + n); 1 for an unknown name. */
export function signalNumber(sig: NodeJS.Signals): number {
  return (osConstants.signals as Record<string, number>)[sig] ?? 1;
}

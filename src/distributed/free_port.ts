// A TCP port that is free on 127.0.0.1 right now (the OS picks it), for the rendezvous of a
// local multi-process run (benchmarks, tests). Another process may take it before it is used;
// callers on a shared machine retry or accept that rare failure.
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

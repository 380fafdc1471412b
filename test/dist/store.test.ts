// The rendezvous store in one process: server thread plus clients. Covers the protocol, the
// secret, the bounds, and each clear error (port in use, unreachable master, world size
// mismatch, duplicate rank, wait timeout).
import { connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { StoreClient, startStoreServer, stopStoreServer, storeServerRefusedCount } from '../../src/distributed/store.js';
import { freePort } from './helpers.js';

const SECRET = 'test-secret-0123456789';
const clients: StoreClient[] = [];
function client(port: number, rank: number, world = 4, secret = SECRET, timeoutMs = 2000): StoreClient {
  const c = StoreClient.connect('127.0.0.1', port, secret, rank, world, timeoutMs);
  clients.push(c);
  return c;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  stopStoreServer();
});

/** Sends raw bytes and resolves with what the server did: 'closed' or the bytes it replied. */
function rawExchange(port: number, bytes: Buffer): Promise<{ closed: boolean; reply: Buffer }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('close', () => resolve({ closed: true, reply: Buffer.concat(chunks) }));
    s.on('error', () => undefined);
    s.write(bytes);
    setTimeout(() => {
      s.destroy();
      resolve({ closed: false, reply: Buffer.concat(chunks) });
    }, 1000);
  });
}

describe('rendezvous store', () => {
  it('sets, gets, adds and waits', async () => {
    const port = await freePort();
    startStoreServer(port, 4, SECRET);
    const a = client(port, 0);
    const b = client(port, 1);
    a.set('k', 'hello');
    expect(b.getString('k')).toBe('hello');
    const big = new Uint8Array(1 << 20).map((_, i) => i * 7);
    b.set('big', big);
    expect(Buffer.compare(a.get('big'), big)).toBe(0); // (toEqual on 1 MB is slow)
    expect(a.add('n', 5)).toBe(5);
    expect(b.add('n', -2)).toBe(3);
    a.wait(['k', 'n']);
    expect(() => a.add('k', 1)).toThrow("add on key 'k' that holds a non-counter value");
    const t0 = Date.now();
    expect(() => b.get('missing', 300)).toThrow("timed out waiting for key 'missing' (300 ms)");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(() => b.wait(['k', 'missing'], 100)).toThrow('timed out waiting for 2 keys (100 ms)');
    // The connection is still usable after a timeout.
    expect(b.getString('k')).toBe('hello');
    expect(a.localAddress()).toBe('127.0.0.1');
    expect(() => a.set('x'.repeat(5000), 'v')).toThrow('key longer than 4096 bytes');
  });

  it('refuses a wrong secret and logs it, and keeps serving', async () => {
    const port = await freePort();
    startStoreServer(port, 2, SECRET);
    expect(() => client(port, 0, 2, 'wrong')).toThrow('refused by rendezvous master: wrong run secret');
    expect(storeServerRefusedCount()).toBe(1);
    const ok = client(port, 0, 2);
    ok.set('a', 'b');
    expect(ok.getString('a')).toBe('b');
  });

  it('names duplicate ranks and keeps serving', async () => {
    const port = await freePort();
    startStoreServer(port, 2, SECRET);
    client(port, 1, 2);
    expect(() => client(port, 1, 2)).toThrow(/duplicate rank 1 \(already connected from 127\.0\.0\.1:\d+\)/);
    client(port, -1, 2); // auxiliary connections claim no rank
  });

  it('a world size mismatch or a rank out of range fails the whole rendezvous at once, waiting ranks included', async () => {
    const port = await freePort();
    startStoreServer(port, 2, SECRET);
    const master = client(port, 0, 2);
    master.set('k', 'v');
    expect(() => client(port, 1, 3)).toThrow('world size mismatch: the master (rank 0) has WORLD_SIZE 2 but rank 1 has WORLD_SIZE 3');
    // rank 0's next request (its wait for the ranks) ends with the reason, not a timeout
    const t0 = Date.now();
    expect(() => master.wait(['rank-1-ready'], 5000)).toThrow('rendezvous failed: world size mismatch: the master (rank 0) has WORLD_SIZE 2 but rank 1 has WORLD_SIZE 3');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(() => client(port, 1, 2)).toThrow('world size mismatch');
    stopStoreServer();
    const port2 = await freePort();
    startStoreServer(port2, 2, SECRET);
    expect(() => client(port2, 2, 2)).toThrow('rank 2 out of range for WORLD_SIZE 2');
    expect(() => client(port2, 0, 2)).toThrow('rank 2 out of range for WORLD_SIZE 2');
  });

  it('says clearly when the port is in use', async () => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(port, '0.0.0.0', () => r()));
    try {
      expect(() => startStoreServer(port, 2, SECRET)).toThrow(`rendezvous: port ${port} is already in use on this host (MASTER_PORT)`);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('retries until the timeout, then names the unreachable master', async () => {
    const port = await freePort();
    const t0 = Date.now();
    expect(() => client(port, 0, 2, SECRET, 700)).toThrow(
      new RegExp(`cannot reach the master at 127\\.0\\.0\\.1:${port} after 0\\.7 s \\(last error: Connection refused\\)`));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300); // it retried with backoff, not one attempt
  });

  it('gives up on a port held by something that never answers the hello', async () => {
    const port = await freePort();
    const held: import('node:net').Socket[] = [];
    const silent: Server = createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', () => r()));
    try {
      // The client blocks this thread, so the silent server's accept runs in the kernel backlog.
      expect(() => client(port, 0, 2, SECRET, 500)).toThrow(`rendezvous: no reply from 127.0.0.1:${port} (is another program listening on MASTER_PORT?)`);
    } finally {
      await new Promise((r) => setTimeout(r, 10));
      for (const s of held) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('closes only the connection that sends a malformed or oversized frame', async () => {
    const port = await freePort();
    startStoreServer(port, 2, SECRET);
    const good = client(port, 0, 2);
    good.set('k', 'v');
    // Garbage before any hello: refused and closed.
    const garbage = await rawExchange(port, Buffer.from([5, 0, 0, 0, 0xff, 1, 2, 3, 4]));
    expect(garbage.closed).toBe(true);
    // A 100 MB length prefix from a stranger: closed without reading it.
    const huge = Buffer.alloc(4);
    huge.writeUInt32LE(100 << 20);
    expect((await rawExchange(port, huge)).closed).toBe(true);
    // A truncated hello (length says 3 bytes, fields need more): closed.
    expect((await rawExchange(port, Buffer.from([3, 0, 0, 0, 1, 0, 0]))).closed).toBe(true);
    // An authenticated connection that then sends an unknown op: closed after its hello reply.
    const secret = Buffer.from(SECRET);
    const hello = Buffer.alloc(1 + 4 + secret.length + 16);
    hello.writeUInt8(1, 0);
    hello.writeUInt32LE(secret.length, 1);
    secret.copy(hello, 5);
    hello.writeBigInt64LE(-1n, 5 + secret.length);
    hello.writeBigInt64LE(2n, 13 + secret.length);
    const frame = (p: Buffer): Buffer => Buffer.concat([Buffer.from(Uint32Array.of(p.length).buffer), p]);
    const authed = await rawExchange(port, Buffer.concat([frame(hello), frame(Buffer.from([99, 1, 2]))]));
    expect(authed.closed).toBe(true);
    expect([...authed.reply]).toEqual([1, 0, 0, 0, 0]); // one frame: status ok (the hello)
    expect(good.getString('k')).toBe('v');
    expect(storeServerRefusedCount()).toBe(3);
  });
});

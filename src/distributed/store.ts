// Client (and, on rank 0, host) of the rendezvous key-value store (native/src/comm/tcp_store).
import { addon } from '../native/addon.js';

export class StoreClient {
  private closed = false;

  private constructor(readonly id: number, readonly defaultTimeoutMs: number) {}

  /**
   * Connects to the master, retrying with backoff until `timeoutMs`, and authenticates with
   * `secret`. rank -1 is an auxiliary connection that claims no rank.
   */
  static connect(host: string, port: number, secret: string, rank: number, worldSize: number, timeoutMs: number): StoreClient {
    return new StoreClient(addon.storeConnect(host, port, secret, rank, worldSize, timeoutMs), timeoutMs);
  }

  set(key: string, value: Uint8Array | string): void {
    addon.storeSet(this.id, key, typeof value === 'string' ? new TextEncoder().encode(value) : value);
  }

  /** Waits until `key` exists (up to the timeout) and returns its value. */
  get(key: string, timeoutMs = this.defaultTimeoutMs): Uint8Array {
    return addon.storeGet(this.id, key, timeoutMs);
  }

  getString(key: string, timeoutMs = this.defaultTimeoutMs): string {
    return new TextDecoder().decode(this.get(key, timeoutMs));
  }

  /** Atomically adds `delta` to the integer counter at `key` and returns the new value. */
  add(key: string, delta: number): number {
    return addon.storeAdd(this.id, key, delta);
  }

  wait(keys: string[], timeoutMs = this.defaultTimeoutMs): void {
    addon.storeWait(this.id, keys, timeoutMs);
  }

  /** All `worldSize` participants meet at `name`; each name is used once. */
  barrier(name: string, worldSize: number, timeoutMs = this.defaultTimeoutMs): void {
    addon.storeBarrier(this.id, name, worldSize, timeoutMs);
  }

  /** This host's address on the connection to the master (the interface that reaches it). */
  localAddress(): string {
    return addon.storeLocalAddress(this.id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    addon.storeClose(this.id);
  }
}

/** Hosts the store on rank 0 (a native thread); throws a clear error when the port is taken. */
export function startStoreServer(port: number, worldSize: number, secret: string): void {
  addon.storeServerStart(port, worldSize, secret);
}

export function stopStoreServer(): void {
  addon.storeServerStop();
}

/** Connections the local server refused (wrong secret, malformed hello, ...). */
export function storeServerRefusedCount(): number {
  return addon.storeServerRefused();
}

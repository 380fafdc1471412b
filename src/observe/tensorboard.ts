// TensorBoard event files as DeepSpeed's TensorBoard monitor leaves them (torch's
// SummaryWriter): `events.out.tfevents.<unix seconds>.<hostname>` under output_path/job_name,
// a file_version record first, then one Event per (step, group of scalars). Every write goes
// straight to the file (no buffering), so a crash loses at most the record being written.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { decodeEvent, encodeEvent, type EventRecord } from './event_proto.js';
import { writeAll, writeFileAtomic } from './files.js';
import type { KeepScalar, ScalarEvent } from './scalars.js';
import { frameRecord, readRecords } from './tfrecord.js';

export const FILE_VERSION = 'brain.Event:2';

export function isEventFile(name: string): boolean {
  return name.startsWith('events.out.tfevents.');
}

export class TensorBoardWriter {
  readonly path: string;
  private fd: number | null;

  /** `claim` hears of the file before it is created (the run records the files it owns). */
  constructor(
    dir: string,
    private readonly now: () => number = Date.now,
    claim: (path: string) => void = () => {},
  ) {
    mkdirSync(dir, { recursive: true });
    // one file per run segment; two segments started within one second get a suffix
    const base = join(dir, `events.out.tfevents.${Math.floor(now() / 1000)}.${hostname()}`);
    let path = base;
    for (let n = 1; existsSync(path); n++) path = `${base}.${n}`;
    this.path = path;
    claim(path);
    this.fd = openSync(path, 'wx');
    this.append({ wallTime: now() / 1000, step: 0, fileVersion: FILE_VERSION, scalars: [] });
  }

  /** One Event per distinct x, in the order given. */
  write(events: readonly ScalarEvent[]): void {
    const wallTime = this.now() / 1000;
    const byX = new Map<number, EventRecord>();
    for (const e of events) {
      let rec = byX.get(e.x);
      if (!rec) byX.set(e.x, (rec = { wallTime, step: e.x, fileVersion: null, scalars: [] }));
      rec.scalars.push({ tag: e.tag, value: e.value });
    }
    for (const rec of byX.values()) this.append(rec);
  }

  private append(rec: EventRecord): void {
    if (this.fd === null) throw new Error(`${this.path}: written after close`);
    // a record cut short (a full disk) would end the file for TensorBoard's reader: whole or an error
    writeAll(this.fd, frameRecord(encodeEvent(rec)));
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Drops the scalars an earlier segment wrote after the resume point from the event files `names`
 * of `dir` (default: all; TensorBoard merges all files of a dir, so a resumed run must not leave
 * them twice). Each changed file is rewritten atomically; a torn last record (a crash
 * mid-write) goes too. Returns the names of the files it rewrote.
 */
export function truncateEventFiles(dir: string, keep: KeepScalar, names?: readonly string[]): string[] {
  if (!existsSync(dir)) return [];
  const rewritten: string[] = [];
  for (const name of names ?? readdirSync(dir).filter(isEventFile).sort()) {
    const path = join(dir, name);
    const scan = readRecords(readFileSync(path));
    const out: Buffer[] = [];
    let changed = scan.error !== null;
    for (const [i, data] of scan.records.entries()) {
      let ev: EventRecord;
      try {
        ev = decodeEvent(data);
      } catch (e) {
        throw new Error(`${path}: record ${i} (byte ${scan.offsets[i]}) is not an Event: ${(e as Error).message}`);
      }
      if (ev.fileVersion !== null || ev.scalars.length === 0) {
        out.push(frameRecord(data));
        continue;
      }
      const kept = ev.scalars.filter((s) => keep(s.tag, ev.step));
      if (kept.length === ev.scalars.length) out.push(frameRecord(data));
      else {
        changed = true;
        if (kept.length > 0) out.push(frameRecord(encodeEvent({ ...ev, scalars: kept })));
      }
    }
    if (changed) {
      writeFileAtomic(path, Buffer.concat(out));
      rewritten.push(name);
    }
  }
  return rewritten;
}

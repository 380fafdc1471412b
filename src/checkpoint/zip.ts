// Read-only zip directory for PyTorch archives: finds each entry's data by offset from the
// central directory (zip64 included, as multi-GB checkpoints need it). Only stored
// (uncompressed) entries can be read, which is what torch.save writes.
import { fstatSync, readSync } from 'node:fs';

export interface ZipEntry {
  name: string;
  /** Absolute offset of the entry's data in the file. */
  dataOffset: number;
  size: number;
  /** 0 = stored; anything else is compressed and cannot be read by offset. */
  method: number;
}

export class ZipError extends Error {
  override name = 'ZipError';
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

export function readExact(fd: number, path: string, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n <= 0) throw new ZipError(`${path}: unexpected end of file at byte ${position + done} (truncated file?)`);
    done += n;
  }
  return buf;
}

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`zip field ${v} is too large`);
  return Number(v);
}

/** All entries of the zip file open as `fd`, by name. */
export function readZipDirectory(fd: number, path: string): Map<string, ZipEntry> {
  const fail = (why: string): never => {
    throw new ZipError(`${path}: not a readable PyTorch zip archive: ${why}`);
  };
  const fileSize = fstatSync(fd).size;
  // the end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KiB
  const tailLen = Math.min(fileSize, 22 + 65535);
  const tail = readExact(fd, path, tailLen, fileSize - tailLen);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG && i + 22 + tail.readUInt16LE(i + 20) === tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record (truncated file?)');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tail.readUInt32LE(loc) !== ZIP64_LOCATOR_SIG) fail('zip64 end-of-central-directory locator missing');
    const recOffset = u64(tail, loc + 8);
    if (recOffset + 56 > fileSize) fail('zip64 end-of-central-directory record past the end of the file');
    const rec = readExact(fd, path, 56, recOffset);
    if (rec.readUInt32LE(0) !== ZIP64_EOCD_SIG) fail('bad zip64 end-of-central-directory signature');
    count = u64(rec, 32);
    cdSize = u64(rec, 40);
    cdOffset = u64(rec, 48);
  }
  if (cdOffset + cdSize > fileSize) fail(`central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the file (${fileSize} bytes; truncated?)`);
  const cd = readExact(fd, path, cdSize, cdOffset);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CDIR_SIG) fail(`central directory entry ${i} is corrupt`);
    const method = cd.readUInt16LE(p + 10);
    let compSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localOffset = cd.readUInt32LE(p + 42);
    const name = cd.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    // zip64 extra field (id 1): the 64-bit values of the fields saturated above, in order
    const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    for (let e = 0; e + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(e);
      const len = extra.readUInt16LE(e + 2);
      if (id === 1) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + len) fail(`zip64 extra field of ${name} is too short`);
          const v = u64(extra, q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compSize === 0xffffffff) compSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      e += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (localOffset + 30 > fileSize) fail(`entry ${name} starts past the end of the file`);
    const local = readExact(fd, path, 30, localOffset);
    if (local.readUInt32LE(0) !== LOCAL_SIG) fail(`entry ${name}: bad local header signature`);
    const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataOffset + compSize > fileSize) fail(`entry ${name} (${compSize} bytes at ${dataOffset}) runs past the end of the file (${fileSize} bytes; truncated?)`);
    if (method === 0 && compSize !== size) fail(`stored entry ${name} has compressed size ${compSize} != size ${size}`);
    entries.set(name, { name, dataOffset, size, method });
  }
  return entries;
}

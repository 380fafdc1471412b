// TFRecord framing, the container of TensorBoard event files. Each record is
//   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
// A reader stops at the first record that is short or fails a CRC: that is what a process
// killed mid-write leaves behind, and everything before it is still good.
import { maskedCrc32c } from './crc32c.js';

export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

export interface RecordScan {
  records: Buffer[];
  /** Byte offset where each record starts (same order as records). */
  offsets: number[];
  /** Why reading stopped before the end of the file, or null when every byte was read. */
  error: string | null;
}

export function readRecords(buf: Buffer): RecordScan {
  const records: Buffer[] = [];
  const offsets: number[] = [];
  let o = 0;
  while (o < buf.length) {
    const at = `record ${records.length} (byte ${o})`;
    if (buf.length - o < 12) return { records, offsets, error: `${at}: truncated header (${buf.length - o} bytes)` };
    const len = buf.readBigUInt64LE(o);
    if (buf.readUInt32LE(o + 8) !== maskedCrc32c(buf.subarray(o, o + 8))) return { records, offsets, error: `${at}: length CRC mismatch` };
    const n = Number(len);
    if (buf.length - o - 12 < n + 4) return { records, offsets, error: `${at}: truncated data (${n} bytes announced)` };
    const data = buf.subarray(o + 12, o + 12 + n);
    if (buf.readUInt32LE(o + 12 + n) !== maskedCrc32c(data)) return { records, offsets, error: `${at}: data CRC mismatch` };
    records.push(data);
    offsets.push(o);
    o += 12 + n + 4;
  }
  return { records, offsets, error: null };
}

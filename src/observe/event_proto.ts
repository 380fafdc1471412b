// The two TensorFlow protos a scalar event file needs, hand-encoded (tensorflow/core/util/
// event.proto, tensorflow/core/framework/summary.proto):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// simple_value is a float32, as torch's SummaryWriter.add_scalar writes it (what DeepSpeed uses).

export interface Scalar {
  tag: string;
  value: number;
}

export interface EventRecord {
  wallTime: number;
  step: number;
  fileVersion: string | null;
  scalars: Scalar[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

function varint(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint: ${n} is not a non-negative safe integer`);
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

const key = (field: number, wire: number): number[] => varint(field * 8 + wire);

function bytesField(field: number, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...key(field, WIRE_BYTES), ...varint(data.length)]), data]);
}

function encodeValue(s: Scalar): Buffer {
  const f = Buffer.alloc(4);
  f.writeFloatLE(s.value, 0);
  return Buffer.concat([bytesField(1, Buffer.from(s.tag, 'utf8')), Buffer.from(key(2, WIRE_FIXED32)), f]);
}

export function encodeEvent(e: EventRecord): Buffer {
  const wall = Buffer.alloc(8);
  wall.writeDoubleLE(e.wallTime, 0);
  const parts: Buffer[] = [Buffer.from(key(1, WIRE_FIXED64)), wall];
  if (e.step !== 0) parts.push(Buffer.from([...key(2, WIRE_VARINT), ...varint(e.step)])); // proto3 omits zero
  if (e.fileVersion !== null) parts.push(bytesField(3, Buffer.from(e.fileVersion, 'utf8')));
  if (e.scalars.length > 0) parts.push(bytesField(5, Buffer.concat(e.scalars.map((s) => bytesField(1, encodeValue(s))))));
  return Buffer.concat(parts);
}

// ---- decoding (for rewriting an event file on resume) ----------------------------------

interface Field {
  field: number;
  wire: number;
  /** varint value (wire 0) */
  int: number;
  /** the field's bytes (wire 1, 2, 5) */
  bytes: Buffer;
}

function* fields(buf: Buffer, what: string): Generator<Field> {
  let o = 0;
  const readVarint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (o >= buf.length) throw new Error(`${what}: truncated varint`);
      const b = buf[o++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
  };
  while (o < buf.length) {
    const k = readVarint();
    const field = Math.floor(k / 8);
    const wire = k % 8;
    const take = (n: number): Buffer => {
      if (o + n > buf.length) throw new Error(`${what}: field ${field} runs past the end`);
      const b = buf.subarray(o, o + n);
      o += n;
      return b;
    };
    if (wire === WIRE_VARINT) yield { field, wire, int: readVarint(), bytes: Buffer.alloc(0) };
    else if (wire === WIRE_FIXED64) yield { field, wire, int: 0, bytes: take(8) };
    else if (wire === WIRE_BYTES) yield { field, wire, int: 0, bytes: take(readVarint()) };
    else if (wire === WIRE_FIXED32) yield { field, wire, int: 0, bytes: take(4) };
    else throw new Error(`${what}: unsupported wire type ${wire} (field ${field})`);
  }
}

/** Decodes the fields written above; other fields (graphs, images, ...) are skipped. */
export function decodeEvent(buf: Buffer): EventRecord {
  const e: EventRecord = { wallTime: 0, step: 0, fileVersion: null, scalars: [] };
  for (const f of fields(buf, 'Event')) {
    if (f.field === 1 && f.wire === WIRE_FIXED64) e.wallTime = f.bytes.readDoubleLE(0);
    else if (f.field === 2 && f.wire === WIRE_VARINT) e.step = f.int;
    else if (f.field === 3 && f.wire === WIRE_BYTES) e.fileVersion = f.bytes.toString('utf8');
    else if (f.field === 5 && f.wire === WIRE_BYTES) {
      for (const v of fields(f.bytes, 'Summary')) {
        if (v.field !== 1 || v.wire !== WIRE_BYTES) continue;
        let tag = '';
        let value: number | null = null;
        for (const x of fields(v.bytes, 'Summary.Value')) {
          if (x.field === 1 && x.wire === WIRE_BYTES) tag = x.bytes.toString('utf8');
          else if (x.field === 2 && x.wire === WIRE_FIXED32) value = x.bytes.readFloatLE(0);
        }
        if (value !== null) e.scalars.push({ tag, value });
      }
    }
  }
  return e;
}

// GGUF v3 constants (ggml's docs/gguf.md): metadata value types, the ggml tensor types this
// exporter writes, and llama.cpp's file-type and token-type numbers.
export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
/** Data alignment: ggml's default (general.alignment absent). */
export const GGUF_ALIGNMENT = 32;

export enum ValueType {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}

/** ggml tensor types used here, with their block shapes. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q8_0 = 8,
  BF16 = 30,
}

/** Values per block and bytes per block of each ggml type. */
export const GGML_BLOCK: Record<GgmlType, { values: number; bytes: number }> = {
  [GgmlType.F32]: { values: 1, bytes: 4 },
  [GgmlType.F16]: { values: 1, bytes: 2 },
  [GgmlType.Q4_0]: { values: 32, bytes: 18 }, // fp16 scale + 16 bytes of 4-bit pairs
  [GgmlType.Q8_0]: { values: 32, bytes: 34 }, // fp16 scale + 32 int8
  [GgmlType.BF16]: { values: 1, bytes: 2 },
};

export const GGML_TYPE_NAMES: Record<number, string> = { 0: 'f32', 1: 'f16', 2: 'q4_0', 8: 'q8_0', 30: 'bf16' };

/** llama.cpp's general.file_type (enum llama_ftype). */
export enum FileType {
  ALL_F32 = 0,
  MOSTLY_F16 = 1,
  MOSTLY_Q4_0 = 2,
  MOSTLY_Q8_0 = 7,
  MOSTLY_BF16 = 32,
}

/** tokenizer.ggml.token_type values (the same numbers as SentencePiece piece types). */
export enum TokenType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export type MetaValue =
  | { type: ValueType.U32 | ValueType.I32 | ValueType.F32 | ValueType.U64 | ValueType.U8; value: number }
  | { type: ValueType.BOOL; value: boolean }
  | { type: ValueType.STRING; value: string }
  | { type: ValueType.ARRAY; itemType: ValueType.STRING; value: string[] }
  | { type: ValueType.ARRAY; itemType: ValueType.F32 | ValueType.I32; value: ArrayLike<number> };

export const u32 = (value: number): MetaValue => ({ type: ValueType.U32, value });
export const f32 = (value: number): MetaValue => ({ type: ValueType.F32, value });
export const str = (value: string): MetaValue => ({ type: ValueType.STRING, value });
export const bool = (value: boolean): MetaValue => ({ type: ValueType.BOOL, value });

/** Bytes of a tensor of `n` values of a ggml type (n a multiple of the block size). */
export function ggmlBytes(type: GgmlType, n: number): number {
  const b = GGML_BLOCK[type];
  if (n % b.values !== 0) throw new Error(`${n} values are not whole blocks of ${GGML_TYPE_NAMES[type]} (${b.values})`);
  return (n / b.values) * b.bytes;
}

export function alignUp(n: number, a = GGUF_ALIGNMENT): number {
  return Math.ceil(n / a) * a;
}

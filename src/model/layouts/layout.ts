// A checkpoint layout maps each Hugging Face tensor onto rows of a canonical parameter
// (src/model/params.ts). The same table drives import and export, so they are inverses.
export interface TensorMap {
  /** Name in the HF checkpoint. */
  hfName: string;
  /** Shape in the HF checkpoint. */
  hfShape: number[];
  /** Canonical parameter the rows belong to. */
  canonical: string;
  /** The HF tensor is stored [in, out] (GPT-2 Conv1D) and must be transposed to [out, in]. */
  transpose: boolean;
  /**
   * Row copies [hfRow, canonicalRow, count], with rows of the (transposed) HF matrix.
   * 1-D tensors have rows of one element.
   */
  rows: Array<[number, number, number]>;
}

export interface CheckpointLayout {
  /** e.g. "telechat", "telechat-52b". */
  name: string;
  tensors: TensorMap[];
}

export function whole(hfName: string, shape: number[], canonical: string, transpose = false): TensorMap {
  const rows = transpose ? shape[1]! : shape[0]!;
  return { hfName, hfShape: shape, canonical, transpose, rows: [[0, 0, rows]] };
}

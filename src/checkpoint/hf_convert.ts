// telechat-export --model HFDIR (--format hf): any HF TeleChat dir (safetensors or
// pytorch_model.bin, single or sharded, any of the three layouts) rewritten as an HF dir in
// the export's contract (HfExportWriter: safetensors with the same tensor names and shapes,
// config with torch_dtype, generation config, tokenizer files and remote code, atomic output),
// one tensor in memory at a time. A tensor whose dtype is kept is copied byte for byte.
import { CheckpointError, checkTiedHead, HfTensorSource, loadHfSpec } from './hf.js';
import { type ExportDtype, HfExportWriter } from './hf_export.js';
import { drain, type Steps } from './interrupt.js';

/** Writes `modelDir` as an HF dir at `outDir` (dtype: the source's when null); returns the files written. */
export function convertHfDir(modelDir: string, outDir: string, dtype: ExportDtype | null, overwrite = false): string[] {
  return drain(convertHfDirSteps(modelDir, outDir, dtype, overwrite));
}

/** convertHfDir as steps, one tensor each (interrupt.ts). */
export function* convertHfDirSteps(modelDir: string, outDir: string, dtype: ExportDtype | null, overwrite = false): Steps<string[]> {
  const spec = loadHfSpec(modelDir);
  const source = new HfTensorSource(modelDir);
  try {
    const writer = new HfExportWriter(modelDir, outDir, spec, { overwrite, ...(dtype ? { dtype } : {}) });
    try {
      checkTiedHead(writer.layout, source);
      for (const t of writer.layout.tensors) {
        if (writer.nextName !== t.hfName) throw new CheckpointError(`HF export of ${modelDir}: expected tensor ${String(writer.nextName)} next, got ${t.hfName}`);
        writer.writeBytes(t.hfName, source.readBytes(t.hfName), source.info(t.hfName).dtype);
        yield;
      }
    } catch (err) {
      writer.abort();
      throw err;
    }
    return writer.finish();
  } finally {
    source.close();
  }
}

// The GGUF tokenizer metadata from a model directory, as llama.cpp's converter writes it for
// SentencePiece models (tokenizer.ggml.model "llama"): every piece with its score and type,
// padded to the config's vocab_size with "[PADn]" pieces of type UNUSED (TeleChat-52B has
// 80000 pieces for 80896 embedding rows: no weight row is dropped), and the special ids.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSpecialIds, type SpecialIds } from '../data/tokenizer.js';
import { TokenType } from './format.js';
import { readSpModel } from './sp_model.js';

export interface GgufVocab {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  special: SpecialIds;
  addSpacePrefix: boolean;
  removeExtraWhitespaces: boolean;
  /** What the tokenizer does to text that llama.cpp's SentencePiece tokenizer does not (a sentence), or null. */
  normalizationGap: string | null;
}

/**
 * llama.cpp's "llama" (SentencePiece) tokenizer applies no charsmap and ignores
 * remove_extra_whitespaces (only its T5 tokenizer normalizes): a model that asks for either
 * tokenizes such text differently there than in training (the SentencePiece library does both).
 */
function normalizationGap(spPath: string, charsmap: boolean, squeezes: boolean): string | null {
  if (!charsmap && !squeezes) return null;
  const does = [charsmap ? 'normalizes text (a precompiled charsmap, e.g. NFKC)' : '', squeezes ? 'squeezes whitespace runs' : ''].filter((x) => x).join(' and ');
  const changed = [charsmap ? 'full-width characters' : '', squeezes ? 'runs of spaces' : ''].filter((x) => x).join(', ');
  return `${spPath}: the tokenizer ${does}; llama.cpp's SentencePiece tokenizer does ${charsmap && squeezes ? 'neither' : 'not'}, so text they change (${changed}) tokenizes differently in llama.cpp than in training`;
}

export function ggufVocab(dir: string, vocabSize: number): GgufVocab {
  const spPath = join(dir, 'tokenizer.model');
  if (!existsSync(spPath)) {
    if (existsSync(join(dir, 'tokenizer.json'))) {
      throw new Error(
        `${join(dir, 'tokenizer.json')}: GGUF export supports SentencePiece tokenizers (tokenizer.model) only; this byte-level BPE tokenizer (TeleChat 7B's) has no llama.cpp pre-tokenizer to name, so the export refuses it`,
      );
    }
    throw new Error(`${dir}: no tokenizer.model to write the GGUF vocabulary from`);
  }
  const sp = readSpModel(spPath);
  if (sp.modelType !== 2 && sp.modelType !== 1) throw new Error(`${spPath}: SentencePiece model type ${sp.modelType} is not BPE or unigram`);
  if (sp.pieces.length > vocabSize) {
    throw new Error(`${spPath}: the tokenizer has ${sp.pieces.length} pieces, more than the model's vocab_size ${vocabSize}`);
  }
  const tokens: string[] = [];
  const scores = new Float32Array(vocabSize).fill(-10000);
  const types = new Int32Array(vocabSize).fill(TokenType.UNUSED);
  sp.pieces.forEach((p, i) => {
    tokens.push(p.piece);
    scores[i] = p.score;
    // SentencePiece matches user-defined pieces inside text without touching the dummy
    // prefix; llama.cpp splits the text at them and gives the next text a space prefix. A
    // single-character user-defined piece (TeleChat's "\n") is one starting symbol of
    // llama.cpp's merge loop anyway, so as NORMAL it yields SentencePiece's ids.
    types[i] = p.type === TokenType.USER_DEFINED && [...p.piece].length === 1 ? TokenType.NORMAL : p.type;
  });
  for (let i = sp.pieces.length; i < vocabSize; i++) tokens.push(`[PAD${i}]`);
  const ids = new Map(sp.pieces.map((p, i) => [p.piece, i]));
  const { ids: special } = resolveSpecialIds(dir, { vocabSize, pieceToId: (piece) => ids.get(piece), idToPiece: (id) => tokens[id]! });
  return {
    tokens, scores, types, special, addSpacePrefix: sp.addDummyPrefix, removeExtraWhitespaces: sp.removeExtraWhitespaces,
    normalizationGap: normalizationGap(spPath, sp.charsmap, sp.removeExtraWhitespaces),
  };
}

// Our own answer to a chat turn, for checking telechat-chat: greedy decoding with our fp32
// forward over the TeleChat2 template's ids (segments encoded by our tokenizer), up to <_end>
// (id 2) or `max` tokens, decoded by SentencePiece.
import { loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { encodeConversations } from '../../src/data/encode.js';
import { getTemplate } from '../../src/data/templates.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { TelechatModel } from '../../src/model/model.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType } from '../../src/native/tensor.js';
import { argmax } from './llama.js';

/** Our greedy answer to a conversation ending in a user turn: ids, stopping at <_end>. */
export function ourAnswer(hf: string, history: Array<{ user: string; bot: string }>, question: string, system?: string, max = 24): string {
  const spec = loadHfSpec(hf);
  const tok = loadTokenizer(hf);
  const ours = new TelechatModel(spec, cpuBackend, { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 128, maxSeqLen: 128, recompute: false });
  try {
    loadHfWeights(hf, spec, ours.params);
    const turns = [...history, { user: question, bot: '' }];
    const enc = encodeConversations(tok, getTemplate('telechat2'), [{ turns, ...(system !== undefined ? { system } : {}) }], 'all')[0]!;
    // the last turn encodes <_user> q <_bot> "" <_end>: drop the <_end> to get the prompt
    const ids = Array.from(enc.ids.subarray(0, enc.ids.length - 1));
    const out: number[] = [];
    while (out.length < max) {
      const logits = ours.forward([{ inputIds: ids, labels: ids.map(() => -100), docLens: [ids.length] }], true).logits!;
      const next = argmax(logits.subarray((ids.length - 1) * spec.vocab));
      if (next === 2) break;
      out.push(next);
      ids.push(next);
    }
    return tok.decode(out);
  } finally {
    ours.free();
    tok.close();
  }
}


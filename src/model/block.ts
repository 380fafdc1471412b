// One transformer block, forward and backward, written out op by op (llm.c style):
//   x2  = x  + drop(o(attention(rope(qkv(rmsnorm1(x))))))
//   out = x2 + drop(down(silu(gate(rmsnorm2(x2))) * up(rmsnorm2(x2))))
// The backward recomputes x2 (and the norm outputs) rather than keeping it per block; with gradient
// checkpointing it reads the x2 the block's re-forward wrote into the shared set.
// drop is the training-only residual dropout (model/dropout.ts); without it the adds are plain.
// With LoRA (lora.ts) each adapted projection adds its low-rank branch to its output, and the
// frozen base gets no gradients at all: g is null, so no dW GEMM runs (dX only).
// Tensors passed in are already cut to the micro-batch's T rows.
import type { AttentionShape, Backend, DropoutMask } from '../native/backend.js';
import type { Tensor } from '../native/tensor.js';
import type { BlockActivations } from './activations.js';
import { type BlockLora, adaptedLinearBackward, adaptedLinearForward, adapts, loraBackward } from './lora.js';
import type { BlockTensors } from './params.js';

export interface BlockContext {
  be: Backend;
  eps: number;
  attn: AttentionShape;
  positions: Tensor;
  cuSeqlens: Tensor;
  cos: Tensor;
  sin: Tensor;
}

/** The masks of one block's two residual branches (null: no dropout). */
export interface BlockDropout {
  attention: DropoutMask;
  mlp: DropoutMask;
}

export interface BlockTemps {
  ln: Tensor;
  /** Where the forward writes x2 when the block keeps none (act.x2 null). */
  x2: Tensor;
  /** Where the backward recomputes x2 when the block keeps none. */
  x2Again: Tensor;
  rstd: Tensor;
  h: Tensor;
  dh: Tensor;
}

/**
 * The backward's temporaries: the shared ones, the block's attention gradients (activations.ts
 * attentionGrads) and dln, a norm's input gradient (before it, a branch's dropout gradient): the
 * block's output buffer, resid[l + 1], which nothing reads once the block above has done its
 * backward.
 */
export interface BlockBackwardTemps extends BlockTemps {
  dln: Tensor;
  datt: Tensor;
  dqkv: Tensor;
}

/** x + branch, through the dropout mask when there is one (out may alias x or branch). */
function residualAdd(be: Backend, out: Tensor, x: Tensor, branch: Tensor, mask: DropoutMask | undefined): void {
  if (mask) be.dropoutAddForward(out, x, branch, mask);
  else be.add(out, x, branch);
}

/**
 * x2 = x + drop(o(att)) into out (which may be where o's output would go anyway): the forward's
 * attention residual, and the backward's recomputation of it with the same kernels on the same
 * inputs, so the same values.
 */
function attentionResidual(ctx: BlockContext, p: BlockTensors, att: Tensor, x: Tensor, out: Tensor, mask: DropoutMask | undefined, lora: BlockLora | null): Tensor {
  // the projection's output lands where its residual sum goes, which is then added in place
  adaptedLinearForward(ctx.be, lora, 'o', out, att, p.o, p.oBias);
  residualAdd(ctx.be, out, x, out, mask);
  return out;
}

export function blockForward(ctx: BlockContext, p: BlockTensors, act: BlockActivations, tmp: BlockTemps, x: Tensor, out: Tensor, drop: BlockDropout | null = null,
  lora: BlockLora | null = null): void {
  const { be } = ctx;
  be.rmsnormForward(tmp.ln, act.rstd1, x, p.ln1, ctx.eps);
  adaptedLinearForward(be, lora, 'qkv', act.qkv, tmp.ln, p.qkv, null);
  // rotate the query and key heads; the value heads follow them in each row
  be.ropeForward(act.qkv, ctx.positions, ctx.cos, ctx.sin, ctx.attn.nHeads + ctx.attn.nKvHeads);
  be.attentionForward(act.att, act.lse, act.qkv, ctx.cuSeqlens, ctx.attn);
  const x2 = attentionResidual(ctx, p, act.att, x, act.x2 ?? tmp.x2, drop?.attention, lora);
  be.rmsnormForward(tmp.ln, act.rstd2, x2, p.ln2, ctx.eps);
  adaptedLinearForward(be, lora, 'gate_up', act.gu, tmp.ln, p.gateUp, null);
  be.swigluForward(tmp.h, act.gu);
  // as o's above, the down projection's output lands where its residual sum goes
  adaptedLinearForward(be, lora, 'down', out, tmp.h, p.down, p.downBias);
  residualAdd(be, out, x2, out, drop?.mlp);
}

/**
 * On entry dresid holds d(loss)/d(out); on return it holds d(loss)/d(x).
 * Parameter gradients are accumulated into g (null: a frozen base, only the adapters in
 * `lora` get gradients; the norms' weight gradients then go to the scratch `normScratch`).
 * inputGrad false (only with a frozen base: the first block of a LoRA model) skips what only
 * d(loss)/d(x) needs, the qkv dX product and the first norm's backward; dresid is then left
 * holding d(loss)/d(x2).
 */
export function blockBackward(ctx: BlockContext, p: BlockTensors, g: BlockTensors | null, act: BlockActivations, tmp: BlockBackwardTemps, x: Tensor, dresid: Tensor, drop: BlockDropout | null = null,
  lora: BlockLora | null = null, normScratch: Tensor | null = null, inputGrad = true): void {
  const { be } = ctx;
  if (!inputGrad && g) throw new Error('blockBackward: inputGrad false needs a frozen base (its weights take no gradient)');
  const dNorm = (w: Tensor | undefined): Tensor => {
    if (w) return w;
    if (!normScratch) throw new Error('blockBackward: a frozen base needs the norm scratch');
    return normScratch;
  };
  // d(branch) = mask * scale * d(out) with dropout, else d(out) itself. With dropout it goes into
  // dln: each half's projections read it before that half's norm input gradient is written there.
  const branchGrad = (mask: DropoutMask | undefined): Tensor => {
    if (!mask) return dresid;
    be.dropoutBackward(tmp.dln, dresid, mask);
    return tmp.dln;
  };
  // MLP: the swiglu output is recomputed rather than kept per block. dh is written over h (one
  // buffer), so every reader of h goes first: a trained base's dW inside linearBackward (native
  // linear_backward computes dW before dX), or under a frozen base the adapters (gA), which write
  // the first dh for the base's dX to add to.
  be.swigluForward(tmp.h, act.gu);
  const dMlp = branchGrad(drop?.mlp);
  adaptedLinearBackward(be, lora, 'down', tmp.dh, g?.down ?? null, g?.downBias ?? null, dMlp, tmp.h, p.down);
  // d(gate|up) overwrites gate|up, read for the last time here
  const dgu = act.gu;
  be.swigluBackward(dgu, tmp.dh, act.gu);
  // x2, the second norm's input: kept by gradient checkpointing's re-forward, else recomputed now
  // that dh is dead, beside where ln goes
  const x2 = act.x2 ?? attentionResidual(ctx, p, act.att, x, tmp.x2Again, drop?.attention, lora);
  // the second norm's output, recomputed from x2 (the same kernel on the same input: the same
  // values), for the readers of a projection's input: its weight gradient or its adapter (dX alone
  // does not read it)
  if (g || adapts(lora, 'gate_up')) be.rmsnormForward(tmp.ln, tmp.rstd, x2, p.ln2, ctx.eps);
  adaptedLinearBackward(be, lora, 'gate_up', tmp.dln, g?.gateUp ?? null, null, dgu, tmp.ln, p.gateUp);
  be.rmsnormBackward(dresid, dNorm(g?.ln2), tmp.dln, x2, p.ln2, act.rstd2);
  // attention
  const dAtt = branchGrad(drop?.attention);
  adaptedLinearBackward(be, lora, 'o', tmp.datt, g?.o ?? null, g?.oBias ?? null, dAtt, act.att, p.o);
  be.attentionBackward(tmp.dqkv, tmp.datt, act.att, act.lse, act.qkv, ctx.cuSeqlens, ctx.attn);
  be.ropeBackward(tmp.dqkv, ctx.positions, ctx.cos, ctx.sin, ctx.attn.nHeads + ctx.attn.nKvHeads);
  // the first norm's output, recomputed from the block input, as above
  if (g || adapts(lora, 'qkv')) be.rmsnormForward(tmp.ln, tmp.rstd, x, p.ln1, ctx.eps);
  if (!inputGrad) {
    loraBackward(lora, 'qkv', tmp.ln, tmp.dqkv, null, false);
    return;
  }
  adaptedLinearBackward(be, lora, 'qkv', tmp.dln, g?.qkv ?? null, null, tmp.dqkv, tmp.ln, p.qkv);
  be.rmsnormBackward(dresid, dNorm(g?.ln1), tmp.dln, x, p.ln1, act.rstd1);
}

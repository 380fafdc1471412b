"""Independent PyTorch reference of the three TeleChat checkpoint layouts (reference/telechat.md).

Works straight from the Hugging Face tensors, the way the HF remote code does:
- v1 / TeleChat2 ("v1"): query [H, H]; key_value [2*kv*hd, H] viewed as (kv, 2*hd, H) with K then V
  per kv head; dense and down_proj carry biases; kv head j serves query heads j*g .. j*g+g-1.
- 52B ("52b"): GPT-2 Conv1D weights [in, out] used as x @ W; c_attn = Q|K|V blocks of H columns;
  c_fc first half -> silu, times second half; muP: embeddings * input_mult, logits * output_mult /
  mup_scale_factor (only when use_mup).
All layouts: pre-norm RMSNorm (computed in at least fp32, cast back, then times weight), NeoX
rotate_half RoPE with the NTK rule below, softmax scale 1/sqrt(head_dim), causal attention that
never crosses documents of a packed row, positions restarting at 0 per document.
"""
import math

import torch
import torch.nn.functional as F

IGNORE = -100

def in_fp32(fn, *args):
    """fn(*args) in the inputs' dtype; 16-bit inputs are computed on in fp32 and the result rounded
    once to their dtype, as the bf16 / fp16 GEMMs of oneDNN (this torch's CPU path where the CPU has
    AVX512-BF16) and cuBLAS accumulate. Elsewhere this torch's own CPU bf16 matmul sums in bf16
    (measured: 25x the error of fp32 summation on a [256, 1024] x [1024, 256] product), and it has
    no CPU fp16 matmul at all, which would make a 16-bit reference run, and any bound taken from it,
    depend on the machine. Autograd's products through the casts are summed in fp32 and rounded
    once the same way."""
    dtype = args[0].dtype
    if dtype not in (torch.bfloat16, torch.float16):
        return fn(*args)
    return fn(*(a.float() for a in args)).to(dtype)


def mm(a, b):
    """a @ b, 16-bit operands summed in fp32 (in_fp32)."""
    return in_fp32(torch.matmul, a, b)


def einsum(spec, a, b):
    """torch.einsum of two operands, 16-bit ones summed in fp32 (in_fp32)."""
    return in_fp32(lambda x, y: torch.einsum(spec, x, y), a, b)


class ConfigError(Exception):
    pass


def _get(cfg, key, kind, default=None, required=True, path="config"):
    if key not in cfg or cfg[key] is None:
        if required and default is None:
            raise ConfigError(f"{path}: missing key {key!r}")
        return default
    v = cfg[key]
    if kind == "posint":
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{path}: key {key!r} must be a positive integer, got {v!r}")
    elif kind == "posnum":
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            raise ConfigError(f"{path}: key {key!r} must be a positive number, got {v!r}")
    elif kind == "bool":
        if not isinstance(v, bool):
            raise ConfigError(f"{path}: key {key!r} must be true or false, got {v!r}")
    return v


def _require_value(cfg, key, wanted, path):
    if key in cfg and cfg[key] is not None and cfg[key] != wanted:
        raise ConfigError(f"{path}: key {key!r} = {cfg[key]!r} is not supported (only {wanted!r})")


class ModelConfig:
    """Parsed, validated shape of one checkpoint. `raw` keeps the original JSON object."""

    def __init__(self, raw, path="config"):
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: top level must be a JSON object")
        self.raw = raw
        prefix = raw.get("_name_prefix", "transformer.")
        if not isinstance(prefix, str):
            raise ConfigError(f"{path}: key '_name_prefix' must be a string")
        self.prefix = prefix
        # HF PretrainedConfig default: tie_word_embeddings absent -> true (the 7B relies on it).
        self.tied = _get(raw, "tie_word_embeddings", "bool", default=True, required=False, path=path)
        if "n_embd" in raw:
            self.layout = "52b"
            self.hidden = _get(raw, "n_embd", "posint", path=path)
            self.n_layer = _get(raw, "n_layer", "posint", path=path)
            self.n_head = _get(raw, "n_head", "posint", path=path)
            self.n_kv = self.n_head
            # HF TELECHATBlock: n_inner null -> 4 * hidden
            self.ffn = _get(raw, "n_inner", "posint", default=4 * self.hidden, required=False, path=path)
            self.vocab = _get(raw, "vocab_size", "posint", path=path)
            self.train_len = _get(raw, "n_positions", "posint", path=path)
            self.rope_theta = float(_get(raw, "rotary_theta", "posnum", path=path))
            self.eps = float(_get(raw, "layer_norm_epsilon", "posnum", path=path))
            self.ref_len = 4096
            self.use_mup = _get(raw, "use_mup", "bool", default=False, required=False, path=path)
            if self.use_mup:
                self.input_mult = float(_get(raw, "input_mult", "posnum", path=path))
                self.logit_mult = float(_get(raw, "output_mult", "posnum", path=path)) / float(
                    _get(raw, "mup_scale_factor", "posnum", path=path))
            else:
                self.input_mult, self.logit_mult = 1.0, 1.0
            _require_value(raw, "activation_function", "silu", path)
            _require_value(raw, "add_bias_linear", False, path)
            _require_value(raw, "use_RMSNorm", True, path)
            _require_value(raw, "relative_encoding", "rotary", path)
            _require_value(raw, "rotary_use_xpos", False, path)
        else:
            self.layout = "v1"
            self.hidden = _get(raw, "hidden_size", "posint", path=path)
            self.n_layer = _get(raw, "n_layer", "posint", path=path)
            self.n_head = _get(raw, "n_head", "posint", path=path)
            self.n_kv = _get(raw, "num_key_value_heads", "posint", default=self.n_head, required=False, path=path)
            self.ffn = _get(raw, "ffn_hidden_size", "posint", path=path)
            self.vocab = _get(raw, "vocab_size", "posint", path=path)
            self.eps = float(_get(raw, "layer_norm_epsilon", "posnum", path=path))
            self.train_len = _get(raw, "training_seqlen", "posint", path=path)
            self.rope_theta = 10000.0
            seven_b_shaped = self.tied and self.vocab == 160256
            self.ref_len = _get(raw, "base_seqlen", "posint", default=4096 if seven_b_shaped else 8192,
                                required=False, path=path)
            self.use_mup, self.input_mult, self.logit_mult = False, 1.0, 1.0
            _require_value(raw, "embed_layernorm", False, path)
            _require_value(raw, "apply_residual_connection_post_layernorm", False, path)
        if self.hidden % self.n_head:
            raise ConfigError(f"{path}: hidden size {self.hidden} is not divisible by n_head {self.n_head}")
        self.head_dim = self.hidden // self.n_head
        if self.head_dim % 2 or self.head_dim < 4:
            raise ConfigError(f"{path}: head_dim {self.head_dim} must be even and >= 4 for rotary")
        if self.n_head % self.n_kv:
            raise ConfigError(f"{path}: n_head {self.n_head} is not a multiple of num_key_value_heads {self.n_kv}")

    def param_specs(self):
        """[(HF name, shape, kind)] in checkpoint order; kind is weight | norm | bias."""
        P, H, F_, V, L = self.prefix, self.hidden, self.ffn, self.vocab, self.n_layer
        specs = []
        if self.layout == "v1":
            kv_rows = 2 * self.n_kv * self.head_dim
            specs.append((P + "word_embeddings.weight", [V, H], "weight"))
            for i in range(L):
                b = f"{P}h.{i}."
                specs += [
                    (b + "input_layernorm.weight", [H], "norm"),
                    (b + "self_attention.query.weight", [H, H], "weight"),
                    (b + "self_attention.key_value.weight", [kv_rows, H], "weight"),
                    (b + "self_attention.dense.weight", [H, H], "weight"),
                    (b + "self_attention.dense.bias", [H], "bias"),
                    (b + "post_attention_layernorm.weight", [H], "norm"),
                    (b + "mlp.gate_proj.weight", [F_, H], "weight"),
                    (b + "mlp.up_proj.weight", [F_, H], "weight"),
                    (b + "mlp.down_proj.weight", [H, F_], "weight"),
                    (b + "mlp.down_proj.bias", [H], "bias"),
                ]
        else:
            specs.append((P + "wte.weight", [V, H], "weight"))
            for i in range(L):
                b = f"{P}h.{i}."
                specs += [
                    (b + "ln_1.weight", [H], "norm"),
                    (b + "attn.c_attn.weight", [H, 3 * H], "weight"),
                    (b + "attn.c_proj.weight", [H, H], "weight"),
                    (b + "ln_2.weight", [H], "norm"),
                    (b + "mlp.c_fc.weight", [H, 2 * F_], "weight"),
                    (b + "mlp.c_proj.weight", [F_, H], "weight"),
                ]
        specs.append((P + "ln_f.weight", [H], "norm"))
        if not self.tied:
            specs.append(("lm_head.weight", [V, H], "weight"))
        return specs

    def embedding_name(self):
        return self.prefix + ("word_embeddings.weight" if self.layout == "v1" else "wte.weight")

    def ignorable(self, name):
        """Non-parameter buffers some checkpoints carry; HF ignores them on load."""
        return name.endswith(".attn.masked_bias") or name.endswith(".attn.bias") or name.endswith("inv_freq")


# ----------------------------------------------------------------------------- rotary

def ntk_rope(cfg, seq_len):
    """The NTK rule of reference/telechat.md, evaluated at L = max(seq_len, training length).

    Returns (L, ntk_alpha, base, mscale). v1/TeleChat2: base = 10000 * alpha^(d/(d-2));
    52B: base = rotary_theta * alpha. mscale = 0.1*ln(L/train) + 1 when L/train > 1, else 1
    (applied to 52B too, with n_positions as its training length).
    """
    L = max(int(seq_len), cfg.train_len)
    alpha = max(2 ** math.ceil(math.log2(L / cfg.ref_len) + 1) - 1, 1)
    d = cfg.head_dim
    if cfg.layout == "v1":
        base = cfg.rope_theta * alpha ** (d / (d - 2))
    else:
        base = cfg.rope_theta * alpha
    ratio = L / cfg.train_len
    mscale = 0.1 * math.log(ratio) + 1.0 if ratio > 1 else 1.0
    return L, alpha, base, mscale


def rope_cos_sin(cfg, seq_len, positions, dtype):
    """cos, sin [T, head_dim] for integer `positions` [T] (computed in float64, cast to dtype)."""
    _, _, base, mscale = ntk_rope(cfg, seq_len)
    d = cfg.head_dim
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    freqs = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)  # NeoX: first half and second half share frequencies
    return (mscale * emb.cos()).to(dtype), (mscale * emb.sin()).to(dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin):
    """x [T, heads, hd]; cos/sin [T, hd]."""
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


# ----------------------------------------------------------------------------- blocks

def rms_norm(x, weight, eps):
    inner = torch.float32 if x.dtype in (torch.bfloat16, torch.float16) else x.dtype
    h = x.to(inner)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def attention(cfg, q, k, v, allowed):
    """q [T, nh, hd], k/v [T, nkv, hd] (roped), allowed [T, T] bool -> context [T, H]."""
    groups = cfg.n_head // cfg.n_kv
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
    scores = einsum("qhd,khd->hqk", q, k) * (1.0 / math.sqrt(cfg.head_dim))
    # Softmax in at least fp32 (what flash attention and HF's fp16 path do), cast back after.
    soft_dtype = torch.float32 if scores.dtype in (torch.bfloat16, torch.float16) else scores.dtype
    scores = scores.to(soft_dtype).masked_fill(~allowed[None], torch.finfo(soft_dtype).min)
    probs = torch.softmax(scores, dim=-1).to(q.dtype)
    ctx = einsum("hqk,khd->qhd", probs, v)
    return ctx.reshape(ctx.shape[0], cfg.hidden)


def no_dropout(layer, branch, h):
    return h


def layer_v1(cfg, p, i, x, cos, sin, allowed, drop=no_dropout):
    """drop(layer, branch, h): the residual dropout of TeleChat's dropout_add (identity in eval)."""
    b = f"{cfg.prefix}h.{i}."
    T, nh, nkv, hd = x.shape[0], cfg.n_head, cfg.n_kv, cfg.head_dim
    h = rms_norm(x, p[b + "input_layernorm.weight"], cfg.eps)
    q = mm(h, p[b + "self_attention.query.weight"].t()).view(T, nh, hd)
    kv = mm(h, p[b + "self_attention.key_value.weight"].t()).view(T, nkv, 2 * hd)  # per kv head: K rows, V rows
    k, v = kv[..., :hd], kv[..., hd:]
    ctx = attention(cfg, apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, allowed)
    x = x + drop(i, "attention", mm(ctx, p[b + "self_attention.dense.weight"].t()) + p[b + "self_attention.dense.bias"])
    h = rms_norm(x, p[b + "post_attention_layernorm.weight"], cfg.eps)
    act = F.silu(mm(h, p[b + "mlp.gate_proj.weight"].t())) * mm(h, p[b + "mlp.up_proj.weight"].t())
    return x + drop(i, "mlp", mm(act, p[b + "mlp.down_proj.weight"].t()) + p[b + "mlp.down_proj.bias"])


def layer_52b(cfg, p, i, x, cos, sin, allowed, drop=no_dropout):
    b = f"{cfg.prefix}h.{i}."
    T, nh, hd, H = x.shape[0], cfg.n_head, cfg.head_dim, cfg.hidden
    h = rms_norm(x, p[b + "ln_1.weight"], cfg.eps)
    qkv = mm(h, p[b + "attn.c_attn.weight"])  # Conv1D: [in, out]
    q, k, v = (t.reshape(T, nh, hd) for t in qkv.split(H, dim=-1))
    ctx = attention(cfg, apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, allowed)
    x = x + drop(i, "attention", mm(ctx, p[b + "attn.c_proj.weight"]))
    h = rms_norm(x, p[b + "ln_2.weight"], cfg.eps)
    gate, up = mm(h, p[b + "mlp.c_fc.weight"]).chunk(2, dim=-1)
    return x + drop(i, "mlp", mm(F.silu(gate) * up, p[b + "mlp.c_proj.weight"]))


def row_structure(doc_lens):
    """positions [T] restarting per document, allowed [T, T] (causal, same document)."""
    doc = torch.cat([torch.full((n,), j, dtype=torch.long) for j, n in enumerate(doc_lens)])
    positions = torch.cat([torch.arange(n, dtype=torch.long) for n in doc_lens])
    T = doc.shape[0]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    return positions, causal & (doc[:, None] == doc[None, :])


def forward_row(cfg, p, input_ids, doc_lens, rope_len, dtype, drop=no_dropout):
    """Logits [T, V] (compute dtype) of one packed row; drop(layer, branch, h) is the residual dropout."""
    positions, allowed = row_structure(doc_lens)
    cos, sin = rope_cos_sin(cfg, rope_len, positions, dtype)
    emb = p[cfg.embedding_name()]
    x = emb[input_ids]
    if cfg.use_mup:
        x = x * cfg.input_mult
    layer = layer_v1 if cfg.layout == "v1" else layer_52b
    for i in range(cfg.n_layer):
        x = layer(cfg, p, i, x, cos, sin, allowed, drop)
    x = rms_norm(x, p[cfg.prefix + "ln_f.weight"], cfg.eps)
    logits = mm(x, (emb if cfg.tied else p["lm_head.weight"]).t())
    if cfg.use_mup:
        logits = logits * cfg.logit_mult
    return logits


def predicted_pairs(labels, doc_lens):
    """(source positions, target labels): t predicts labels[t+1] inside its document, if not -100."""
    src, tgt, start = [], [], 0
    for n in doc_lens:
        for t in range(start, start + n - 1):
            if labels[t + 1] != IGNORE:
                src.append(t)
                tgt.append(labels[t + 1])
        start += n
    return torch.tensor(src, dtype=torch.long), torch.tensor(tgt, dtype=torch.long)


def evaluate(cfg, params, rows, dtype, rope_len, want_grad, dropout_for_row=None):
    """Run every row; the loss is sum(token CE) / count over all rows.

    params: {name: tensor} already in `dtype`. Returns dict with logits [sum T, V] (fp32; fp64 for fp64),
    loss_sum and label_count (python floats, loss_sum accumulated in float64) and, if want_grad,
    grads {name: tensor} of the mean loss (0 when count is 0). Rows are run one at a time and their
    gradients accumulated in fp32 (fp64 when dtype is fp64). dropout_for_row(r) gives row r's
    drop(layer, branch, h) (training-mode residual dropout), or None for none.
    """
    loss_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    pairs = [predicted_pairs(r["labels"], r["doc_lens"]) for r in rows]
    count = sum(int(s.numel()) for s, _ in pairs)
    leaves = {}
    if want_grad:
        for name, t in params.items():
            leaves[name] = t.detach().clone().requires_grad_(True)
    else:
        leaves = params
    grad_dtype = loss_dtype
    grads = {name: torch.zeros(t.shape, dtype=grad_dtype) for name, t in params.items()} if want_grad else None
    all_logits, loss_sum = [], 0.0
    with torch.set_grad_enabled(want_grad):
        for r, (row, (src, tgt)) in enumerate(zip(rows, pairs)):
            ids = torch.tensor(row["input_ids"], dtype=torch.long)
            drop = dropout_for_row(r) if dropout_for_row is not None else no_dropout
            logits = forward_row(cfg, leaves, ids, row["doc_lens"], rope_len, dtype, drop)
            all_logits.append(logits.detach().to(loss_dtype))
            if src.numel() == 0:
                continue
            ce = F.cross_entropy(logits[src].to(loss_dtype), tgt, reduction="none")
            loss_sum += float(ce.detach().to(torch.float64).sum())
            if want_grad:
                (ce.sum() / count).backward()
                for name, leaf in leaves.items():
                    if leaf.grad is not None:
                        grads[name] += leaf.grad.to(grad_dtype)
                        leaf.grad = None
    return {"logits": torch.cat(all_logits, dim=0), "loss_sum": loss_sum, "label_count": float(count),
            "grads": grads}

"""all-MiniLM-L6-v2's encoder as plain torch operations, in three precisions.

The forward pass of the model's BERT encoder (6 layers, 12 heads of 32, hidden 384, feed-forward
1536), read from the bundled safetensors; pooling is the caller's. Precisions:
  fp32       the reference: equal to transformers' BertModel up to float rounding.
  bf16       every weight in bf16 (layer norms and softmax accumulate in fp32 inside their
             kernels): ~1.9x fp32 here at cosine >= 0.9999.
  bf16-int8  bf16, and each layer's feed-forward up-projection (384 -> 1536, a third of the
             model's multiply-adds) in int8 on oneDNN (AVX512-VNNI), GELU fused into the
             kernel: 1.15-1.2x bf16 at cosine >= 0.999 to fp32 (docs/decisions/0001).

The int8 projection is SmoothQuant-style: the projection's input (the attention block's layer
norm output) has a few channels 10-20x larger than the rest, so each channel is divided by
s_c = sqrt(max|x_c|) / sqrt(max|W[:, c]|) and the weight's columns multiplied by it, which
leaves the product unchanged and the input quantisable per tensor. The division is folded into
a second layer norm over the same input, and the input's range is fixed from a calibration pass
over bundled text (`calibration.txt`), so a text's vector never depends on the batch it came in.
Weights are int8 per output channel. The other projections stay bf16: the attention input has
the same outliers and feeds the softmax (min cosine 0.9993 even smoothed, 0.998 combined), the
down-projection's GELU output does not quantise per tensor (0.96).

The real tokens of a batch are packed into one matrix, so no layer computes anything for
padding, and attention runs one text at a time on its rows (in bf16: bmm, softmax, bmm, with the
scores in cache: ~0.7x the time of torch's CPU flash attention at 200 tokens, which computes bf16
in fp32 without AMX). The pass is compiled to TorchScript, so a batch runs without Python's lock.

Left out: training, dropout, token types other than 0, heads of the model other than the
encoder, GPUs.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal, Optional  # Optional: TorchScript reads it, not X | None

import torch
import torch.nn.functional as F

Precision = Literal["fp32", "bf16", "bf16-int8"]
log = logging.getLogger(__name__)

LAYERS, HEADS, HEAD_DIM, HIDDEN, FFN = 6, 12, 32, 384, 1536
LAYER_NORM_EPS = 1e-12
# Texts of at most this many tokens ([CLS] and [SEP] included) skip the int8 up-projection: a
# word or two comes out at cosine 0.997-0.999 to fp32 through it (sentences >= 0.9993).
INT8_MIN_TOKENS = 8
CALIBRATION_TEXT = Path(__file__).with_name("calibration.txt")


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (features the OS switched off are not listed)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    """bf16 arithmetic in hardware; elsewhere torch emulates it (correct, but slower than fp32)."""
    flags = cpu_flags() if flags is None else flags
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_int8_dot(flags: frozenset[str] | None = None) -> bool:
    """int8 dot products in hardware (VNNI or AMX); elsewhere oneDNN's int8 kernels run slower than bf16."""
    flags = cpu_flags() if flags is None else flags
    return "avx512_vnni" in flags or "amx_int8" in flags


@cache
def int8_ops_available() -> bool:
    """oneDNN's quantised linear is built into this torch (the bf16-int8 path runs on any x86-64 CPU then)."""
    try:
        torch.ops.onednn.qlinear_pointwise  # noqa: B018  (raises where the op is not built in)
        torch.ops.onednn.qlinear_prepack  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


def int8_kernels_available() -> bool:
    """The bf16-int8 path is the fast one here: the ops are built in and the CPU has int8 dot products."""
    return cpu_has_int8_dot() and int8_ops_available()


def best_precision(flags: frozenset[str] | None = None, *, int8_ops: bool | None = None) -> Precision:
    """What `auto` runs on a CPU with `flags`: each step only where the hardware makes it faster.

    no bf16 in hardware              fp32       (emulated bf16 would be slower)
    bf16, no int8 dot products       bf16
    bf16 and VNNI/AMX, oneDNN ops    bf16-int8
    """
    flags = cpu_flags() if flags is None else flags
    if not cpu_has_bf16(flags):
        return "fp32"
    ops = int8_ops_available() if int8_ops is None else int8_ops
    return "bf16-int8" if cpu_has_int8_dot(flags) and ops else "bf16"


class _Layer:
    """One encoder layer's weights, in the forward pass's dtype."""

    def __init__(self, weights: dict[str, torch.Tensor], prefix: str, dtype: torch.dtype) -> None:
        def w(name: str) -> torch.Tensor:
            return weights[prefix + name].to(dtype).contiguous()

        # Query, key and value in one projection; the query pre-scaled by 1/sqrt(32) (in fp32).
        attention = ("attention.self.query.", "attention.self.key.", "attention.self.value.")
        scale = torch.tensor([HEAD_DIM**-0.5, 1.0, 1.0]).repeat_interleave(HIDDEN)  # (1152,)
        self.qkv_w = (torch.cat([weights[prefix + a + "weight"] for a in attention]) * scale[:, None]).to(dtype)
        self.qkv_b = (torch.cat([weights[prefix + a + "bias"] for a in attention]) * scale).to(dtype)
        self.out_w, self.out_b = w("attention.output.dense.weight"), w("attention.output.dense.bias")
        self.norm1_w, self.norm1_b = w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias")
        self.up_w, self.up_b = w("intermediate.dense.weight"), w("intermediate.dense.bias")  # (1536, 384)
        self.down_w, self.down_b = w("output.dense.weight"), w("output.dense.bias")  # (384, 1536)
        self.norm2_w, self.norm2_b = w("output.LayerNorm.weight"), w("output.LayerNorm.bias")

    def tensors(self) -> list[torch.Tensor]:
        """In the order `_encode` reads them."""
        return [self.qkv_w, self.qkv_b, self.out_w, self.out_b, self.norm1_w, self.norm1_b,
                self.up_w, self.up_b, self.down_w, self.down_b, self.norm2_w, self.norm2_b]


# (prepacked int8 weight, its per-channel scales, zero points, bias, layer norm weight and bias
#  that give the quantised input, input scale, input zero point): what `_int8_up` reads.
Int8Projection = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float, int]


def int8_up_projection(layer: _Layer, *, norm_min: torch.Tensor, norm_max: torch.Tensor) -> Int8Projection:
    """The layer's feed-forward up-projection in int8 (see the module docstring), from the
    per-channel range (384,) of its layer norm output in calibration."""
    weight = layer.up_w.float()  # (1536, 384)
    channel_max = torch.maximum(norm_min.abs(), norm_max.abs()).float()
    smooth = channel_max.clamp_min(1e-5).sqrt() / weight.abs().amax(0).clamp_min(1e-5).sqrt()  # (384,)
    smoothed = weight * smooth
    weight_scale = smoothed.abs().amax(1).clamp_min(1e-8) / 127  # (1536,) per output channel
    quantised = (smoothed / weight_scale[:, None]).round().clamp(-127, 127).to(torch.int8)
    # Input range after smoothing, 0 included (asymmetric uint8).
    low = min(float((norm_min.float() / smooth).min()), 0.0)
    high = max(float((norm_max.float() / smooth).max()), 0.0)
    input_scale = (high - low) / 255 or 1.0
    input_zero = round(-low / input_scale)
    # One fp32 layer norm yields the quantised input: LN(y) / smooth / scale + zero.
    norm_w = (layer.norm1_w.float() / smooth / input_scale).contiguous()
    norm_b = (layer.norm1_b.float() / smooth / input_scale + input_zero).contiguous()
    return (
        torch.ops.onednn.qlinear_prepack(quantised, [1, HIDDEN]),
        weight_scale,
        torch.zeros(FFN, dtype=torch.int64),
        layer.up_b.float(),
        norm_w,
        norm_b,
        input_scale,
        input_zero,
    )


class MiniLMEncoder:
    """last_hidden_state = encoder(ids, mask); (batch, tokens) int64 -> (batch, tokens, 384).

    The forward pass is compiled to TorchScript: a call runs without Python's lock, so the
    embedding threads keep computing while other threads run Python (with eager operators,
    each of the ~1,500 operators of a batch waits for the lock: a busy thread beside them made
    a test loop 400x slower; compiled, 1.5x)."""

    def __init__(self, weights: dict[str, torch.Tensor], *, precision: Precision) -> None:
        self.precision = precision
        self.dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        self.embeddings = [
            weights["embeddings.word_embeddings.weight"].to(self.dtype),
            weights["embeddings.position_embeddings.weight"].to(self.dtype),
            weights["embeddings.token_type_embeddings.weight"][0].to(self.dtype),
            weights["embeddings.LayerNorm.weight"].to(self.dtype),
            weights["embeddings.LayerNorm.bias"].to(self.dtype),
        ]
        self.layers = [_Layer(weights, f"encoder.layer.{i}.", self.dtype) for i in range(LAYERS)]
        self._weights = [layer.tensors() for layer in self.layers]
        self._int8: list[Int8Projection] = []  # one per layer once quantised

    @classmethod
    def from_file(
        cls, path: Path, *, precision: Precision, calibration: Iterable[tuple[Any, Any]] = ()
    ) -> MiniLMEncoder:
        """Load `model.safetensors`; `bf16-int8` needs calibration batches of (ids, mask)."""
        from safetensors.torch import load_file

        encoder = cls(load_file(str(path)), precision=precision)
        if precision == "bf16-int8":
            encoder.quantise_up_projections(calibration)
        return encoder

    def quantise_up_projections(self, calibration: Iterable[tuple[Any, Any]]) -> None:
        """Measure each layer's norm output on the calibration batches, then switch to int8."""
        low: list[torch.Tensor | None] = [None] * LAYERS
        high: list[torch.Tensor | None] = [None] * LAYERS
        with torch.inference_mode():
            for ids, mask in calibration:
                ids, mask = torch.as_tensor(ids), torch.as_tensor(mask)
                _, observed = self._run(ids, mask, observe=True)
                for index, normed in enumerate(observed):
                    tokens = normed.float()  # (real tokens, 384)
                    lo, hi = tokens.amin(0), tokens.amax(0)
                    low[index] = lo if low[index] is None else torch.minimum(low[index], lo)
                    high[index] = hi if high[index] is None else torch.maximum(high[index], hi)
        if any(x is None for x in low):
            raise ValueError("int8 calibration needs at least one batch of text")
        self._int8 = [
            int8_up_projection(layer, norm_min=lo, norm_max=hi)  # type: ignore[arg-type]
            for layer, lo, hi in zip(self.layers, low, high)
        ]

    @property
    def int8_layers(self) -> int:
        """How many layers run their up-projection in int8 (all or none)."""
        return len(self._int8)

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._run(ids, mask, observe=False)[0]

    def _run(self, ids: torch.Tensor, mask: torch.Tensor, *, observe: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        lengths = mask.sum(1).tolist()  # real tokens per text; padding comes after them
        real = mask.reshape(-1).nonzero().squeeze(1)  # where each real token sits in (batch * tokens)
        short = [b for b, n in enumerate(lengths) if n <= INT8_MIN_TOKENS]
        short_rows = None  # the packed rows of texts too short for int8
        if short and self._int8:
            starts = [0, *itertools.accumulate(lengths)]
            short_rows = torch.cat([torch.arange(starts[b], starts[b + 1]) for b in short])
        return _compiled_encode()(
            ids, real, lengths, short_rows, self.embeddings, self._weights, self._int8,
            HEADS, LAYER_NORM_EPS, observe,
        )


@cache
def _compiled_encode() -> Any:
    """`_encode` compiled; where this torch cannot compile it, `_encode` as it is (same results,
    but holding Python's lock at every operator)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the compiler is frozen, not gone
            return torch.jit.script(_encode)
    except Exception as exc:  # noqa: BLE001 - any compiler failure leaves the eager function
        log.warning("the embedding model runs uncompiled (%s: %s)", type(exc).__name__, exc)
        return _encode


def _encode(
    ids: torch.Tensor,  # (batch, tokens), each text's padding after it
    real: torch.Tensor,  # (real tokens,) indexes of the real tokens in ids.view(-1)
    lengths: list[int],  # real tokens per text
    short_rows: Optional[torch.Tensor],  # noqa: UP045 - rows of texts of <= INT8_MIN_TOKENS, where int8 is on
    embeddings: list[torch.Tensor],  # word, position, token type, norm weight and bias
    layers: list[list[torch.Tensor]],  # _Layer.tensors() of each layer
    int8: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float, int]],
    heads: int,  # the constants are arguments: a compiled function reads no module globals
    eps: float,
    observe: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:  # (last hidden state, each layer's first norm output if observed)
    # The real tokens of all texts are packed into one (real tokens, 384) matrix: no layer
    # computes anything for padding, and attention runs text by text on its rows.
    batch, length = ids.shape[0], ids.shape[1]
    hidden_size = embeddings[0].shape[1]
    positions = torch.arange(length).repeat(batch).index_select(0, real)
    x = F.embedding(ids.reshape(-1).index_select(0, real), embeddings[0]) + embeddings[1][positions] + embeddings[2]
    x = F.layer_norm(x, [hidden_size], embeddings[3], embeddings[4], eps)
    observed: list[torch.Tensor] = []
    for index in range(len(layers)):
        w = layers[index]
        qkv = F.linear(x, w[0], w[1]).view(-1, 3, heads, hidden_size // heads)
        attended = _attention(qkv, lengths, real, batch, length)  # (real tokens, 384)
        residual_sum = F.linear(attended, w[2], w[3]).add_(x)
        x = F.layer_norm(residual_sum, [hidden_size], w[4], w[5], eps)
        if observe:
            observed.append(x)
        if len(int8) > 0:
            hidden = _int8_up(residual_sum, int8[index], eps)
            if short_rows is not None:  # too few tokens for one int8 range to resolve them: bf16
                rows = x.index_select(0, short_rows)
                hidden.index_copy_(0, short_rows, F.gelu(F.linear(rows, w[6], w[7])))
        else:
            hidden = F.gelu(F.linear(x, w[6], w[7]))
        residual_sum = F.linear(hidden, w[8], w[9]).add_(x)
        x = F.layer_norm(residual_sum, [hidden_size], w[10], w[11], eps)
    out = torch.zeros(batch * length, hidden_size, dtype=x.dtype)
    return out.index_copy_(0, real, x).view(batch, length, hidden_size), observed


def _int8_up(
    residual_sum: torch.Tensor,
    p: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float, int],
    eps: float,
) -> torch.Tensor:
    # residual_sum: (tokens, 384), the layer norm's input -> (tokens, 1536) bf16, GELU applied
    weight, weight_scale, weight_zero, bias, norm_w, norm_b, input_scale, input_zero = p
    q = F.layer_norm(residual_sum.float(), [residual_sum.shape[1]], norm_w, norm_b, eps)
    q = q.round_().clamp_(0, 255).to(torch.uint8)
    return torch.ops.onednn.qlinear_pointwise(
        q, input_scale, input_zero, weight, weight_scale, weight_zero, bias,
        1.0, 0, torch.bfloat16, "gelu", [], "none",  # the empty list takes the argument's type here only
    )


def _attention(qkv: torch.Tensor, lengths: list[int], real: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    # qkv: (real tokens, 3, heads, 32) packed text after text, the query pre-scaled -> (real tokens, 384)
    tokens, heads, head_dim = qkv.shape[0], qkv.shape[2], qkv.shape[3]
    if qkv.dtype == torch.float32:
        # torch's flash attention over the padded batch is the fastest fp32 path (text by text: 19.7 against 22.0 docs/s)
        padded = torch.zeros(batch * length, 3, heads, head_dim).index_copy_(0, real, qkv)
        bias: Optional[torch.Tensor] = None  # noqa: UP045
        if min(lengths) < length:  # padding gets a large negative score: exp() is 0
            is_real = torch.zeros(batch * length, dtype=torch.bool).index_fill_(0, real, True).view(batch, length)
            bias = torch.zeros(batch, length).masked_fill_(~is_real, -1e4)[:, None, None, :]
        q_k_v = padded.view(batch, length, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q_k_v[0], q_k_v[1], q_k_v[2], attn_mask=bias, scale=1.0)
        return out.transpose(1, 2).reshape(batch * length, heads * head_dim).index_select(0, real)
    # bf16: the flash kernel computes it in fp32 here; bmm, softmax, bmm one text at a time takes
    # ~0.7x its time, needs no mask, and keeps each text's (12, n, n) scores in cache.
    out = torch.empty(tokens, heads, head_dim, dtype=qkv.dtype)
    start = 0
    for n in lengths:
        q_k_v = qkv[start : start + n].permute(1, 2, 0, 3)  # (3, heads, n, 32): strided views, no copies
        scores = torch.softmax(torch.bmm(q_k_v[0], q_k_v[1].transpose(1, 2)), -1)  # (heads, n, n)
        torch.bmm(scores, q_k_v[2], out=out[start : start + n].transpose(0, 1))  # in place, token-major
        start += n
    return out.view(tokens, heads * head_dim)

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

Attention in bf16 runs one text at a time with the scores in cache (bmm, softmax, bmm): ~0.7x
the time of torch's CPU flash attention at 200 tokens, which computes bf16 in fp32 without AMX.

Left out: training, dropout, token types other than 0, heads of the model other than the
encoder, GPUs.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

Precision = Literal["fp32", "bf16", "bf16-int8"]

LAYERS, HEADS, HEAD_DIM, HIDDEN, FFN = 6, 12, 32, 384, 1536
LAYER_NORM_EPS = 1e-12
# Texts of at most this many tokens ([CLS] and [SEP] included) skip the int8 up-projection: a
# word or two comes out at cosine 0.997-0.999 to fp32 through it (sentences >= 0.9993).
INT8_MIN_TOKENS = 8
PAD_BIAS = -1e4  # added to fp32 attention scores of padding tokens: exp() is 0
CALIBRATION_TEXT = Path(__file__).with_name("calibration.txt")


@cache
def cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@cache
def int8_kernels_available() -> bool:
    """oneDNN's quantised linear is in this torch, and the CPU has int8 dot products."""
    flags = cpu_flags()
    if "avx512_vnni" not in flags and "amx_int8" not in flags:
        return False
    try:
        torch.ops.onednn.qlinear_pointwise  # noqa: B018  (raises where the op is not built in)
        torch.ops.onednn.qlinear_prepack  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


def best_precision() -> Precision:
    if not cpu_has_bf16():
        return "fp32"
    return "bf16-int8" if int8_kernels_available() else "bf16"


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
        self.int8_up: _Int8UpProjection | None = None


class _Int8UpProjection:
    """The feed-forward up-projection and GELU in int8 (see the module docstring)."""

    def __init__(self, layer: _Layer, *, norm_min: torch.Tensor, norm_max: torch.Tensor) -> None:
        # norm_min, norm_max: (384,) per-channel range of the layer norm output in calibration
        weight = layer.up_w.float()  # (1536, 384)
        channel_max = torch.maximum(norm_min.abs(), norm_max.abs()).float()
        smooth = channel_max.clamp_min(1e-5).sqrt() / weight.abs().amax(0).clamp_min(1e-5).sqrt()  # (384,)
        smoothed = weight * smooth
        weight_scale = smoothed.abs().amax(1).clamp_min(1e-8) / 127  # (1536,) per output channel
        quantised = (smoothed / weight_scale[:, None]).round().clamp(-127, 127).to(torch.int8)
        self.weight = torch.ops.onednn.qlinear_prepack(quantised, [1, HIDDEN])
        self.weight_scale = weight_scale
        self.weight_zero = torch.zeros(FFN, dtype=torch.int64)
        self.bias = layer.up_b.float()
        # Input range after smoothing, 0 included (asymmetric uint8).
        low = min(float((norm_min.float() / smooth).min()), 0.0)
        high = max(float((norm_max.float() / smooth).max()), 0.0)
        self.input_scale = (high - low) / 255 or 1.0
        self.input_zero = round(-low / self.input_scale)
        # One fp32 layer norm yields the quantised input: LN(y) / smooth / scale + zero.
        self.norm_w = (layer.norm1_w.float() / smooth / self.input_scale).contiguous()
        self.norm_b = (layer.norm1_b.float() / smooth / self.input_scale + self.input_zero).contiguous()

    def __call__(self, residual_sum: torch.Tensor) -> torch.Tensor:
        # residual_sum: (tokens, 384), the layer norm's input -> (tokens, 1536) bf16, GELU applied
        q = F.layer_norm(residual_sum.float(), (HIDDEN,), self.norm_w, self.norm_b, LAYER_NORM_EPS)
        q = q.round_().clamp_(0, 255).to(torch.uint8)
        return torch.ops.onednn.qlinear_pointwise(
            q,
            self.input_scale,
            self.input_zero,
            self.weight,
            self.weight_scale,
            self.weight_zero,
            self.bias,
            1.0,
            0,
            torch.bfloat16,
            "gelu",
            [],
            "none",
        )


class MiniLMEncoder:
    """last_hidden_state = encoder(ids, mask); (batch, tokens) int64 -> (batch, tokens, 384)."""

    def __init__(self, weights: dict[str, torch.Tensor], *, precision: Precision) -> None:
        self.precision = precision
        self.dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        self.word = weights["embeddings.word_embeddings.weight"].to(self.dtype)
        self.position = weights["embeddings.position_embeddings.weight"].to(self.dtype)
        self.token_type = weights["embeddings.token_type_embeddings.weight"][0].to(self.dtype)
        self.norm_w = weights["embeddings.LayerNorm.weight"].to(self.dtype)
        self.norm_b = weights["embeddings.LayerNorm.bias"].to(self.dtype)
        self.layers = [_Layer(weights, f"encoder.layer.{i}.", self.dtype) for i in range(LAYERS)]

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

        def observe(index: int, normed: torch.Tensor, real: torch.Tensor) -> None:
            tokens = normed[real].float()  # (real tokens, 384)
            lo, hi = tokens.amin(0), tokens.amax(0)
            low[index] = lo if low[index] is None else torch.minimum(low[index], lo)
            high[index] = hi if high[index] is None else torch.maximum(high[index], hi)

        with torch.inference_mode():
            for ids, mask in calibration:
                self._forward(torch.as_tensor(ids), torch.as_tensor(mask), observe=observe)
        if any(x is None for x in low):
            raise ValueError("int8 calibration needs at least one batch of text")
        for layer, lo, hi in zip(self.layers, low, high):
            assert lo is not None and hi is not None
            layer.int8_up = _Int8UpProjection(layer, norm_min=lo, norm_max=hi)

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._forward(ids, mask)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, *, observe: Any = None) -> torch.Tensor:
        batch, length = ids.shape
        x = F.embedding(ids, self.word) + self.position[:length] + self.token_type
        x = F.layer_norm(x, (HIDDEN,), self.norm_w, self.norm_b, LAYER_NORM_EPS).view(batch * length, HIDDEN)
        lengths = mask.sum(1).tolist()  # real tokens per text; padding comes after them
        short = [b for b, n in enumerate(lengths) if n <= INT8_MIN_TOKENS]
        real = mask.reshape(-1).bool()
        for index, layer in enumerate(self.layers):
            qkv = F.linear(x, layer.qkv_w, layer.qkv_b).view(batch, length, 3, HEADS, HEAD_DIM)
            attended = self._attention(qkv, mask, lengths)  # (batch * tokens, 384)
            residual_sum = F.linear(attended, layer.out_w, layer.out_b).add_(x)
            x = F.layer_norm(residual_sum, (HIDDEN,), layer.norm1_w, layer.norm1_b, LAYER_NORM_EPS)
            if observe is not None:
                observe(index, x, real)
            if layer.int8_up is not None:
                hidden = layer.int8_up(residual_sum)
                if short:  # too few tokens for one int8 range to resolve them: bf16, row by row
                    rows = x.view(batch, length, HIDDEN)[short]
                    hidden.view(batch, length, FFN)[short] = F.gelu(F.linear(rows, layer.up_w, layer.up_b))
            else:
                hidden = F.gelu(F.linear(x, layer.up_w, layer.up_b))
            residual_sum = F.linear(hidden, layer.down_w, layer.down_b).add_(x)
            x = F.layer_norm(residual_sum, (HIDDEN,), layer.norm2_w, layer.norm2_b, LAYER_NORM_EPS)
        return x.view(batch, length, HIDDEN)

    def _attention(self, qkv: torch.Tensor, mask: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        # qkv: (batch, tokens, 3, heads, 32), the query pre-scaled -> (batch * tokens, 384)
        batch, length = qkv.shape[:2]
        if self.dtype == torch.float32:  # torch's flash attention is the fastest fp32 path
            bias = None if min(lengths) == length else ((1 - mask) * PAD_BIAS).to(qkv.dtype)[:, None, None, :]
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
            return out.transpose(1, 2).reshape(batch * length, HIDDEN)
        # One text at a time, its padding cut off: the (12, n, n) scores stay in cache, and no
        # mask is needed (padding tokens attend to nothing; nothing attends to them).
        out = (torch.empty if min(lengths) == length else torch.zeros)(batch, length, HEADS, HEAD_DIM, dtype=qkv.dtype)
        for b, n in enumerate(lengths):
            q, k, v = qkv[b, :n].permute(1, 2, 0, 3)  # (heads, n, 32) each, strided views: no copies
            scores = torch.softmax(torch.bmm(q, k.transpose(1, 2)), -1)  # (heads, n, n)
            torch.bmm(scores, v, out=out[b, :n].transpose(0, 1))  # written in place, token-major
        return out.view(batch * length, HIDDEN)

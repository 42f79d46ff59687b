"""FreqPool: average or max pooling along frequency, frame by frame (the time kernel is 1, so it is causal).

`kernel=0` (the default) pools all bins into one (a classifier's global pooling); otherwise windows of
`kernel` bins every `stride` bins ('valid' padding: the bins a last partial window would cover are
dropped, as PyTorch's floor mode and Keras' 'valid' do). In int8 it is TFLite's AVERAGE_POOL_2D or
MAX_POOL_2D, which keep their input's quantization; the firmware runs arm_avgpool_s8 / arm_max_pool_s8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, same_quant

MODES = ("avg", "max")


@dataclass(frozen=True)
class PoolNode:
    kind: ClassVar[str] = "pool"
    init_rank: ClassVar[int] = 1  # its buffer check comes after the convs'
    name: str
    source: BufRef
    target: BufRef
    width: int  # input bins
    channels: int
    mode: str = "avg"
    kernel: int = 0  # bins of a window (the whole width for global pooling)
    stride: int = 1
    out_width: int = 1

    @property
    def scratch_bytes(self) -> int:
        return 4 * self.channels if self.mode == "avg" else 0  # arm_avgpool_s8's int32 sums (CMSIS-NN's DSP path)

    @property
    def function(self) -> str:
        return "arm_avgpool_s8" if self.mode == "avg" else "arm_max_pool_s8"

    @property
    def kernels(self) -> tuple[str, ...]:
        return (self.function,)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


_OVER_TIME = ("pooling over time is not causal frame by frame (an output frame would wait for later frames); "
              "pool frequency only with kernel (1, k), and reduce the frame rate with a strided conv (S-CC)")


def _import_pool(builder, path: str, module: nn.Module) -> None:
    what = type(module).__name__
    if builder.one_d or isinstance(module, nn.AvgPool1d | nn.MaxPool1d):
        raise SoiError(f"{path} ({what}): {_OVER_TIME}")
    (kt, kf), (st, sf), (pt, pf) = _pair(module.kernel_size), _pair(module.stride or module.kernel_size), \
        _pair(module.padding)
    if kt != 1 or st != 1:
        raise SoiError(f"{path} ({what}): kernel {module.kernel_size}, stride {module.stride}: {_OVER_TIME}")
    if pf or pt or module.ceil_mode:
        raise SoiError(f"{path} ({what}): only 'valid' pooling is supported (padding=0, ceil_mode=False)")
    if isinstance(module, nn.MaxPool2d) and _pair(module.dilation) != (1, 1):
        raise SoiError(f"{path} ({what}): dilation {module.dilation} is not supported")
    if isinstance(module, nn.AvgPool2d) and module.divisor_override is not None:
        raise SoiError(f"{path} ({what}): divisor_override is not supported (TFLite divides by the window size)")
    mode = "max" if isinstance(module, nn.MaxPool2d) else "avg"
    builder.append(FreqPool(builder.layer_name(path), builder.source, mode=mode, kernel=kf, stride=sf))


def _import_adaptive(builder, path: str, module: nn.Module) -> None:
    what = type(module).__name__
    size = _pair(module.output_size)
    if builder.one_d or size[0] is not None or size[1] != 1:
        raise SoiError(f"{path} ({what}): output_size {module.output_size} pools over time: {_OVER_TIME}; "
                       f"{what}((None, 1)) (every frame's {'mean' if 'Avg' in what else 'max'} over frequency) "
                       "is supported")
    mode = "max" if isinstance(module, nn.AdaptiveMaxPool2d) else "avg"
    builder.append(FreqPool(builder.layer_name(path), builder.source, mode=mode))


@dataclass(frozen=True)
class FreqPool(LayerOp):
    mode: str = "avg"  # "avg" | "max"
    kernel: int = 0  # bins per window; 0: all bins (global pooling, one output bin)
    stride: int = 0  # bins between windows; 0: the kernel (non-overlapping windows)

    kind: ClassVar[str] = "pool"
    buffer_rank: ClassVar[int] = 2
    torch_imports: ClassVar[dict] = {nn.AvgPool2d: _import_pool, nn.MaxPool2d: _import_pool,
                                     nn.AvgPool1d: _import_pool, nn.MaxPool1d: _import_pool,
                                     nn.AdaptiveAvgPool2d: _import_adaptive, nn.AdaptiveMaxPool2d: _import_adaptive}

    def window(self, width: int) -> tuple[int, int, int]:
        """(kernel, stride, output bins) over an input of `width` bins."""
        k = self.kernel or width
        s = self.stride or k
        return k, s, (width - k) // s + 1

    def infer(self, period, channels, width, rf) -> Facts:
        s = self.input
        if self.mode not in MODES:
            raise SoiError(f"layer '{self.name}': pooling mode '{self.mode}'; choose one of {', '.join(MODES)}")
        if self.kernel < 0 or self.stride < 0 or self.kernel > width[s]:
            raise SoiError(f"layer '{self.name}': a pooling window of {self.kernel} bin(s), stride {self.stride}, "
                           f"over {width[s]} bins; the window must fit the frame (1..{width[s]}, or 0 for all)")
        return Facts(period[s], channels[s], self.window(width[s])[2], rf[s])

    def _pool(self, x, width: int):
        k, s, _ = self.window(width)
        fn = F.avg_pool2d if self.mode == "avg" else F.max_pool2d
        return fn(x, (1, k), (1, s))

    def offline(self, model, acts):
        x = acts[self.input]  # (batch, channels, time, freq)
        return self._pool(x, x.shape[3])

    def stream(self, stepper, phase: int):
        x = stepper.frames[self.input]  # (channels, width)
        return self._pool(x[None, :, None], x.shape[1])[0, :, 0]

    def keras(self, keras, offline, acts):
        k, s, _ = self.window(acts[self.input].shape[2])
        cls = keras.layers.AveragePooling2D if self.mode == "avg" else keras.layers.MaxPooling2D
        return cls((1, k), (1, s), padding="valid", name=self.name)(acts[self.input])

    def match(self, m):
        op = m.consumer(m.acts[self.input], "AVERAGE_POOL_2D" if self.mode == "avg" else "MAX_POOL_2D", self.name)
        m.acts[self.name] = op.outputs[0]
        return m.graph.tensors[op.outputs[0]]

    def lower(self, ctx: LowerContext) -> Lowered:
        same_quant(self.name, ctx.quant[self.input], ctx.matched[self.name])
        width = ctx.sched.width[self.input]
        k, s, out_width = self.window(width)
        node = PoolNode(self.name, ctx.buf[self.input], BufRef(f"soi_buf_{self.name}"), width,
                        ctx.sched.channels[self.name], self.mode, k, s, out_width)
        return Lowered((node,), node.target, ctx.matched[self.name],
                       {node.target.buffer: node.channels * out_width})

"""The plan node of every conv-family kernel call (conv, depthwise, fully connected, tSTMC as a conv
over its zero-inserted state, one frame of a transposed conv in time), with every number its C
needs as a field or property: the template prints them and decides nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

import numpy as np

from soi_mcu.ops.base import BufRef, ring_window
from soi_mcu.ops.s16w_layout import (
    dw16_applies,
    dw16_stream,
    pw16_applies,
    pw16_stream,
    s16w_applies,
    s16w_lanes,
    s16w_stream,
)

_BUFFER_SIZE_FN = {
    "arm_convolve_wrapper_s8": "arm_convolve_wrapper_s8_get_buffer_size",
    "arm_depthwise_conv_wrapper_s8": "arm_depthwise_conv_wrapper_s8_get_buffer_size",
    "arm_fully_connected_s8": "arm_fully_connected_s8_get_buffer_size",
    "soi_conv_s16w_s8": "soi_conv_s16w_s8_get_buffer_size",
}
# the project's kernels with a generation-time stream
FAST_KERNELS = ("soi_conv_s16w_s8", "soi_pw_s16w_s8", "soi_dw_s16w_s8", "soi_add_table_s8")


@dataclass(frozen=True)
class FcCall:
    """One arm_fully_connected_s8 call: a run of output channels that share a multiplier and shift."""

    first: int  # first output channel
    count: int
    multiplier: int
    shift: int
    weight_offset: int  # first * cin: where its filter rows start
    sums_bytes: int  # bytes of its kernel sums, the most its kernel may ask for as a buffer


@dataclass(frozen=True)
class ConvNode:
    kind: ClassVar[str] = "conv"
    declare_rank: ClassVar[int] = 0  # declared first (soi_mcu.plan.lower.CPlan.declared)
    init_rank: ClassVar[int] = 0
    name: str
    source: BufRef  # the input frame
    target: BufRef  # where the output frame is written
    cin: int
    cout: int
    kt: int
    kf: int
    dilation: int
    window: int  # frames in the partial state (1: no state)
    in_width: int  # frequency bins in / out
    out_width: int
    fstride: int
    depthwise: bool
    push_period: int  # a new input frame arrives every push_period steps
    run_period: int  # an output frame is computed every run_period steps
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    state_zero_point: int
    weights: np.ndarray  # int8 [cout, kt, kf, cin]
    bias: np.ndarray  # int32 [cout]
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    macs: int
    # tSTMC: each input frame enters the state spread out, bin w at insert_offset + w * insert_stride,
    # the zero point between (zero insertion): a transposed conv is then this plain conv, unpadded,
    # with the kernel flipped in time and frequency. insert_stride 1: an ordinary conv.
    insert_stride: int = 1
    insert_offset: int = 0
    src_width: int = 0  # bins of the input frame before insertion
    lut: tuple[int, ...] = ()  # activation as a 256-entry int8 table (ELU) applied in place, indexed by x + 128
    # A 1x1 conv over frames of one bin (a classifier head) runs as arm_fully_connected_s8: one call
    # per run of output channels with the same multiplier and shift (its quantization is per tensor).
    fully_connected: bool = False
    # Runs as the project's soi_conv_s16w_s8 (DSP cores, shapes and quantizations it takes) from one stream
    # of words (s16w_layout.s16w_stream) instead of arm_convolve_wrapper_s8 with the int8 filter.
    s16w: bool = False
    # Conv only: dilation in frequency, the frequency padding (left, right; None: the rule of pad_w) and
    # PyTorch's groups (filter [cout, kt, kf, cin / groups]; arm_convolve_s8 takes that shape as groups).
    fdilation: int = 1
    freq_pad: tuple[int, int] | None = None
    groups: int = 1
    # Runs as the project's soi_pw_s16w_s8 (a 1x1 conv on the DSP cores) from its stream (pw16_stream).
    pw16: bool = False
    # Runs as the project's soi_dw_s16w_s8 (a one-bin depthwise conv of 3 taps in time on the DSP cores) from
    # its stream (dw16_stream).
    dw16: bool = False

    @cached_property
    def s16w_words(self) -> np.ndarray | None:
        """soi_conv_s16w_s8's stream for this layer (None: its requantization is not exact here)."""
        return s16w_stream(self.weights, self.bias, self.multipliers, self.shifts, self.input_offset,
                           self.output_offset)

    @cached_property
    def pw16_words(self) -> np.ndarray | None:
        """soi_pw_s16w_s8's stream for this layer (None: its requantization is not exact here)."""
        return pw16_stream(self.weights, self.bias, self.multipliers, self.shifts, self.input_offset,
                           self.output_offset)

    @cached_property
    def dw16_words(self) -> np.ndarray | None:
        """soi_dw_s16w_s8's stream for this layer (None: its requantization is not exact here)."""
        return dw16_stream(self.weights, self.bias, self.multipliers, self.shifts, self.input_offset,
                           self.output_offset)

    @property
    def stream_words(self) -> np.ndarray | None:
        """The stream of whichever project kernel runs it (None: a CMSIS-NN call with int8 filters)."""
        if self.dw16:
            return self.dw16_words
        return self.s16w_words if self.s16w else (self.pw16_words if self.pw16 else None)

    @property
    def streamed(self) -> bool:
        """Its constants are one stream of words (soi_conv_s16w_s8, soi_dw_s16w_s8), not the CMSIS-NN arrays."""
        return self.s16w or self.dw16

    @property
    def constant_bytes(self) -> int:
        """Flash of the layer's constants: the stream, or filter, bias, multipliers and shifts."""
        words = self.stream_words
        if words is not None:
            return words.nbytes
        sums = 4 * self.cout if self.fully_connected else 0  # fc_sums
        return self.weights.nbytes + 4 * self.bias.size + 8 * self.cout + sums

    def portable(self) -> ConvNode:
        """This node on the CMSIS-NN API (int8 filters), as without the project's fast kernels."""
        return replace(self, s16w=False, pw16=False, dw16=False)

    @property
    def fc_sums(self) -> tuple[int, ...]:
        """Kernel sums as arm_vector_sum_s8 makes them (bias + input_offset x row sum, filter offset 0):
        what arm_fully_connected_s8 reads from ctx.buf on MVE, computed here so they live in flash."""
        rows = self.weights.reshape(self.cout, -1).astype(np.int64).sum(axis=1)
        return tuple(int(v) for v in self.bias.astype(np.int64) + self.input_offset * rows)

    @property
    def fc_groups(self) -> tuple[tuple[int, int, int, int], ...]:
        """(first channel, channels, multiplier, shift) of each arm_fully_connected_s8 call."""
        groups: list[tuple[int, int, int, int]] = []
        for c, q in enumerate(zip(self.multipliers, self.shifts, strict=True)):
            if groups and (groups[-1][2], groups[-1][3]) == q:
                start, count, mult, shift = groups[-1]
                groups[-1] = (start, count + 1, mult, shift)
            else:
                groups.append((c, 1, *q))
        return tuple(groups)

    @property
    def fc_calls(self) -> tuple[FcCall, ...]:
        return tuple(FcCall(s, c, m, sh, s * self.cin, 4 * c) for s, c, m, sh in self.fc_groups)

    @property
    def has_state(self) -> bool:
        """Reads its input from a ring (a window of frames, or one zero-inserted frame)."""
        return self.window > 1 or self.src_width > 0

    @property
    def pad_w(self) -> int:
        """Zero bins before the first in frequency ('same' for a conv unless freq_pad says otherwise; none
        over a zero-inserted state). CMSIS-NN pads the right side implicitly: the output width (set from
        the padded width) decides how far the last window reaches, and bins past the input are padding."""
        if self.freq_pad is not None:
            return self.freq_pad[0]
        return self.kf // 2 if self.insert_stride == 1 and not self.src_width else 0

    @property
    def same_padding(self) -> bool:
        """Its frequency padding is 'same' for an odd kernel: (kf // 2) bins on each side."""
        return self.freq_pad is None or (self.kf % 2 == 1 and self.freq_pad == (self.kf // 2, self.kf // 2))

    # -- what the template prints -------------------------------------------------------------
    @property
    def conv_input(self) -> BufRef:
        """What the kernel reads: the state's window, or the input frame itself."""
        return ring_window(self.name) if self.has_state else self.source

    @property
    def kernel_fn(self) -> str:
        if self.pw16:
            return "soi_pw_s16w_s8"
        if self.fully_connected:
            return "arm_fully_connected_s8"
        if self.s16w:
            return "soi_conv_s16w_s8"
        if self.dw16:
            return "soi_dw_s16w_s8"
        return "arm_depthwise_conv_wrapper_s8" if self.depthwise else "arm_convolve_wrapper_s8"

    @property
    def buffer_size_fn(self) -> str:
        """The kernel's scratch query, which init() checks against the shared scratch."""
        return _BUFFER_SIZE_FN[self.kernel_fn]

    @property
    def kernels(self) -> tuple[str, ...]:
        return (self.kernel_fn,)

    @property
    def headers(self) -> tuple[str, ...]:
        """Headers beyond CMSIS-NN's arm_nnfunctions.h that its kernel needs."""
        if self.dw16:
            return ("soi_dw_s16w.h",)
        return ("soi_conv_s16w.h",) if self.s16w else (("soi_pw_s16w.h",) if self.pw16 else ())

    @property
    def description(self) -> str:
        if self.fully_connected:
            return "fully connected (a 1x1 conv over one bin)"
        if self.src_width:
            return (f"transposed conv (stride {self.insert_stride} in frequency, as a conv over the zero-inserted "
                    "state, kernel flipped)")
        return "conv"

    @property
    def freq_notes(self) -> str:
        """What the comment above its constants adds for a conv's non-default frequency geometry and groups."""
        notes = [f"frequency dilation {self.fdilation}"] if self.fdilation != 1 else []
        if not self.same_padding:
            notes.append(f"frequency padding ({self.freq_pad[0]}, {self.freq_pad[1]})")
        if self.groups != 1:
            notes.append(f"{self.groups} groups")
        return "".join(f", {n}" for n in notes)

    @property
    def ch_mult(self) -> int:
        return self.cout // self.cin

    @property
    def filter_dims(self) -> tuple[int, int, int, int]:
        if self.depthwise:
            return (1, self.kt, self.kf, self.cout)
        return (self.cout, self.kt, self.kf, self.cin // self.groups)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame in its partial state."""
        return self.in_width * self.cin

    @property
    def slot_bytes(self) -> int:
        """The mirrored ring: every frame of the window stored twice."""
        return 2 * self.window * self.frame_bytes

    @property
    def out_size(self) -> int:
        return self.out_width * self.cout

    @property
    def state_bytes(self) -> int:
        return self.slot_bytes if self.has_state else 0

    @property
    def scratch_bytes(self) -> int:
        """Kernel scratch it may ask for, for either kernel library and any ISA of the board family:
        conv im2col (two int16 columns, MVE rounding, margin) or, for a depthwise conv, CMSIS-NN's MVE
        path, which reserves 4 x 124 channels x the kernel area whatever the channel count.

        The generated init() checks each layer's *_get_buffer_size() against this at run time, so a
        kernel library that needs more fails loudly instead of overrunning the buffer."""
        col = self.cin * self.kt * self.kf
        if self.pw16 or self.dw16:  # read the input in place
            return 0
        if self.s16w:  # soi_conv_s16w_s8_get_buffer_size
            return s16w_lanes(self.kt, self.cin) * 8 * 4 + 4
        if self.depthwise:
            return max(4 * col, 4 * 124 * self.kt * self.kf) + 16
        return 4 * (col + 16) * 2

    @property
    def has_ring(self) -> bool:
        return self.has_state

    @property
    def ring_zero_point(self) -> int:
        return self.state_zero_point

    def reads(self, what: str) -> tuple[BufRef, ...]:
        # A conv with a state reads its ring, which its push filled.
        if what == "push" or not self.has_state:
            return (self.source,)
        return ()

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return () if what == "push" else (self.target,)

    def on_fast_kernel(self, core_is_fast: bool, pw_is_fast: bool = False, dw_is_fast: bool = False) -> ConvNode:
        """This node on the project's faster kernel where the core has one that takes it: soi_pw_s16w_s8 for
        a 1x1 conv (any pixel count; an int16 stream of 2 bytes per weight), soi_conv_s16w_s8 for a 3-wide
        filter. soi_conv_s16w_s8 would run a 1-wide filter as 3 taps (3x the MACs, 6 bytes of flash per
        weight), so a 1-wide filter keeps the CMSIS-NN call, except for a head of fewer than 4 output
        channels over several bins (a mask), where the widened stream is a few hundred bytes and still the
        fastest (soi_pw_s16w_s8's blocks of 4 channels would be mostly padding there). A one-bin depthwise
        conv of 3 taps in time runs as soi_dw_s16w_s8 (19 words per 4 channels)."""
        if dw_is_fast and self.ch_mult == 1 and dw16_applies(
                kt=self.kt, kf=self.kf, cin=self.cin, cout=self.cout, in_width=self.in_width,
                out_width=self.out_width, fstride=self.fstride, depthwise=self.depthwise and not self.src_width,
                pad_w=self.pad_w):
            fast = replace(self, dw16=True)
            return fast if fast.dw16_words is not None else self
        if pw_is_fast and self.cout >= 4 and pw16_applies(kt=self.kt, kf=self.kf, fstride=self.fstride, cin=self.cin,
                                       depthwise=self.depthwise, transposed=self.src_width > 0,
                                       same_padding=self.same_padding and self.pad_w == 0, groups=self.groups,
                                       window=self.window):
            fast = replace(self, pw16=True)
            return fast if fast.pw16_words is not None else self
        if not core_is_fast or (self.kf != 3 and self.cout >= 4) or not s16w_applies(
                kt=self.kt, kf=self.kf, fstride=self.fstride, cin=self.cin, out_width=self.out_width,
                depthwise=self.depthwise, fully_connected=self.fully_connected, transposed=self.src_width > 0,
                fdilation=self.fdilation, same_padding=self.same_padding, groups=self.groups):
            return self
        fast = replace(self, s16w=True)
        return fast if fast.s16w_words is not None else self

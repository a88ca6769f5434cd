"""Rank-generic convolution and transposed convolution, forward and backward written out.

Forward: im2col + matmul. Each kernel tap sees a strided view of the padded input; the views
of the taps of the trailing kernel axes are gathered side by side on the channel axis (one
gather from the flattened input) and multiplied with the matching rows of the kernel. For 3D
the leading kernel axis is accumulated as separate matmuls, so a 3x3x3 kernel never
materialises 27 copies of the input at once.

Backward (`tf.custom_gradient`, never autodiff through the forward):
  dL/dW = patches^T @ dL/dz            (a correlation of the input with dL/dz)
  dL/dx = full correlation of dL/dz with the spatially flipped kernel whose in/out channels
          are swapped within each group. With strides, the input cells are split by their
          phase modulo the stride and each phase is a stride-1 correlation with the taps that
          reach it (no multiplications with the zeros a stride would insert into dL/dz).
          Small problems, where the many small ops of the phases cost more than their
          arithmetic, take col2im instead: the adjoint of the forward's gather, one matmul
          dz @ W^T, one gather and one sum; so do convolutions that widen the channels past
          what rows takes (their columns are the smaller copy).
The gather indices are NumPy constants built at trace time: shapes are static.
A transposed convolution is that dL/dx map; its backward is the forward convolution.
"""
import itertools
import math

import numpy as np
import tensorflow as tf

from layers.ops import geometry as geo, kn2row, mode, pointwise, rows, shifted, space_to_depth as s2d
from layers.ops.grouped import grouped_matmul, grouped_weight_grad

SMALL_COLUMNS = 1 << 16  # dL/dx by columns up to this many per example (measured: digits vs layer bench)
COLUMNS_MIN_WIDENING = 2  # and by columns from this many dL/dz channels per input channel when
# dL/dz is too wide for rows (measured, dL/dx alone: 48 -> 192 k5 0.47x the im2col route's time;
# 256 -> 256 k3 1.02x, 512 -> 512 k3 1.08x, 3D 256 -> 256 1.17x; rows-sized 32 -> 64 k3 1.61x)
FEW_CHANNELS = 4  # shifted rows up to this many input channels (measured: 1-3 gain 1.1-4x, 8 loses)
GATHER_FEW_CHANNELS = 3  # from this many, the forward gathers instead (measured: 3 channels
# 1.90 -> 1.71 and 1.65 -> 1.42 Keras's time, 1 channel 0.79 -> 0.89)
FEW_CHANNELS_MAX_COLUMNS = 1 << 21  # and dL/dx by columns up to this many per example (measured,
# dL/dx alone against the shifted rows' col2im: 2D and 1D, 40k-1.35M columns, 0.51-1.01x; 3D
# (8, 32^3, 3) k3, 2.65M, 1.10x)
FEW_CHANNELS_MAX_COLUMNS_ONEDNN = 0  # with oneDNN on, the shifted rows' col2im on every shape
# (measured, whole step against Keras, columns -> shifted rows: (64, 32^2, 3) k5 -> 32 3.76 -> 1.68,
# (128, 32^2, 3) k5 -> 64 1.60 -> 1.14, k3 -> 32 1.45 -> 1.03)
ROWS_MAX_CHANNELS = 128  # rows up to this many input channels (measured: 8-128 gain 1.1-2.4x, 256 loses)
ROWS_MIN_COLUMNS = 1 << 16  # rows from this many im2col columns per example (measured: Conv1D at
# 32-64k columns even or 1.1x slower, 128k 2x faster)
KN2ROW_MAX_PADDED = 1.3  # with oneDNN on, kn2row where rows fits at stride 1 and the padded leading
# grid has at most this many cells per output (its corners' wasted arithmetic). Measured, whole step
# against rows, oneDNN on, one process: Conv3D k3 at 16^3-32^3 on 8-32 channels (1.13-1.27) 0.68-0.94x
# rows' time, Conv2D k3/k5/k9 at 16^2-32^2 (1.07-1.25) 0.87-0.94x; Conv3D at 8^3, k5 at 16^3 or
# dilation 2 (1.56) 1.04-1.22x. With oneDNN off not chosen: 0.96x rows' time at best (dL/dW one
# matmul per tap), 1.1-1.4x with the batched dL/dW.
KN2ROW_MAX_OUTPUTS = 64  # and up to this many outputs (measured, as above: 16-64 outputs gain; 2D k5
# 48 -> 192 on 19^2 loses, 1.14x rows' time: its product is 5 x 192 columns wide)
FOLD_MIN_COLUMNS = 4096  # space-to-depth from this many im2col columns per example (measured:
# LeCun's 5x5/2 on 16x16x1, 1600, loses 0.88x -> 1.06x Keras's time; 6912 and up gain 1.1-2.8x)


def _loop_axes(rank):
    """Kernel axes accumulated as separate matmuls instead of concatenated (memory vs GEMM size)."""
    return 1 if rank == 3 else 0


def _chunks(geometry, loop_axes):
    """(leading offset, [full offsets]) pairs: one matmul per leading offset."""
    heads = itertools.product(*[range(g.kernel) for g in geometry[:loop_axes]])
    tails = list(itertools.product(*[range(g.kernel) for g in geometry[loop_axes:]]))
    for head in heads:
        yield head, [head + tail for tail in tails]


def correlate(x_padded, kernel, geometry, groups):
    """Valid strided/dilated correlation of an already padded input.

    x_padded (N, *P, Cin), kernel (*k, Cin/G, Cout) -> z (N, *O, Cout) and the im2col
    patches of each chunk, (N*prod(O), T*Cin), kept for dL/dW. The patches are one gather
    per chunk from the flattened input: a single copy, where slicing each tap and
    concatenating would copy twice.
    """
    cin, cout = x_padded.shape[-1], kernel.shape[-1]
    padded_shape = x_padded.shape[1:-1].as_list()
    flat = tf.reshape(x_padded, [-1, math.prod(padded_shape), cin])  # (N, prod(P), Cin)
    z, saved = None, []
    for head, offsets in _chunks(geometry, _loop_axes(len(geometry))):
        index = geo.tap_indices(geometry, padded_shape, offsets)  # (prod(O), T)
        patches = tf.reshape(tf.gather(flat, index, axis=1), [-1, len(offsets) * cin])  # (M, T*Cin)
        weights = tf.reshape(kernel[head], [-1, cout])  # (T*Cg, Cout)
        part = grouped_matmul(patches, weights, len(offsets), groups)
        z = part if z is None else z + part
        saved.append(patches)
    return tf.reshape(z, [-1] + [g.out for g in geometry] + [cout]), saved


def weight_grad(saved_patches, dz, kernel_shape, groups):
    """dL/dW from the forward's patches: one matmul per chunk, stacked in kernel order."""
    dz = tf.reshape(dz, [-1, dz.shape[-1]])
    taps = saved_patches[0].shape[-1] // (kernel_shape[-2] * groups)
    parts = [grouped_weight_grad(p, dz, taps, groups) for p in saved_patches]
    return tf.reshape(parts[0] if len(parts) == 1 else tf.stack(parts), kernel_shape)


def flip_kernel(kernel, groups):
    """Rotate the kernel 180 degrees and swap in/out channels within each group.

    (*k, Cg, Cout) -> (*k, Cout/G, G*Cg): the kernel that maps dL/dz back onto x.
    """
    rank = kernel.shape.rank - 2
    k = kernel.shape[:rank].as_list()
    cg, cout = kernel.shape[-2], kernel.shape[-1]
    flipped = tf.reverse(kernel, axis=list(range(rank)))
    flipped = tf.reshape(flipped, k + [cg, groups, cout // groups])
    perm = list(range(rank)) + [rank + 2, rank + 1, rank]
    return tf.reshape(tf.transpose(flipped, perm), k + [cout // groups, groups * cg])


def _rows_fit(geometry, channels, groups):
    """Whether the rows algorithm suits this shape (see `algorithm`)."""
    columns = math.prod(g.out * g.kernel for g in geometry) * channels
    return (groups == 1 and geometry[0].kernel > 1 and FEW_CHANNELS < channels <= ROWS_MAX_CHANNELS
            and columns >= ROWS_MIN_COLUMNS)


def _kn2row_fit(geometry, channels, outputs, groups):
    """Whether the kn2row algorithm suits this shape (see `algorithm`): with oneDNN on, where rows
    fits at stride 1 on 2-3 axes, the padded leading cells are few enough and the outputs narrow;
    never under `mode.plain_ops` (its shifted sums are an XLA function; without XLA they lose to rows)."""
    lead = geometry[:-1]
    padded = math.prod(g.padded for g in lead) / max(math.prod(g.out for g in lead), 1)
    return (mode.onednn() and not mode.plain_only() and len(geometry) >= 2 and all(g.stride == 1 for g in geometry)
            and padded <= KN2ROW_MAX_PADDED and outputs <= KN2ROW_MAX_OUTPUTS and _rows_fit(geometry, channels, groups))


def _correlate_padded(x_padded, kernel, geometry, groups, unstrided=False):
    """A correlation of an already padded input inside dL/dx: kn2row (for the dL/dx of an unstrided
    convolution, as measured) or rows where they fit, else im2col."""
    if unstrided and _kn2row_fit(geometry, x_padded.shape[-1], kernel.shape[-1], groups):
        return kn2row.correlate(x_padded, kernel, geometry)
    if _rows_fit(geometry, x_padded.shape[-1], groups):
        return rows.correlate(x_padded, kernel, geometry)
    return correlate(x_padded, kernel, geometry, groups)


def input_grad(dz, kernel, geometry, groups):
    """dL/dx: the full correlation of dL/dz with the flipped kernel.

    dz (N, *O, Cout) -> (N, *size, Cin). Also the forward of a transposed convolution.
    Small problems take the column route: fewest ops, where per-op overhead outweighs the
    arithmetic; so does a dL/dz too wide for rows and at least twice the input's channels
    (`_widening`). Larger strided (undilated) ones the sub-pixel route: no multiplications with
    the zeros that a stride would otherwise insert between the cells of dL/dz.
    """
    if groups == 1 and (_columns_per_example(kernel, geometry) <= SMALL_COLUMNS or _widening(kernel)):
        return _input_grad_by_columns(dz, kernel, geometry)
    strided = any(g.stride > 1 for g in geometry)
    if strided and all(g.dilation == 1 for g in geometry):
        return _input_grad_by_phases(dz, kernel, geometry, groups)
    return _input_grad_by_spreading(dz, kernel, geometry, groups)


def _widening(kernel):
    """Whether dL/dz is too wide for rows and at least COLUMNS_MIN_WIDENING times the input's
    channels: the columns, T*Cin per output cell, are then the smaller copy (the spread route's
    im2col patches hold T*Cout per input cell)."""
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    return cout > ROWS_MAX_CHANNELS and cout >= COLUMNS_MIN_WIDENING * cin


def _columns_per_example(kernel, geometry):
    """prod(O) * T * Cin: the size of one example's columns dz @ W^T."""
    return math.prod(g.out for g in geometry) * math.prod(kernel.shape[:-1])


def _input_grad_by_columns(dz, kernel, geometry):
    """col2im, the adjoint of the forward's gather: the columns dz @ W^T hold what each
    output cell sends through each tap; an input cell sums the columns of the (output, tap)
    pairs that read it, one gather and a sum. Cells read fewer times gather zero columns,
    those of an extra output cell of zeros (padding dz is cheaper than padding the columns).
    """
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    outputs = math.prod(g.out for g in geometry)
    dz = tf.pad(tf.reshape(dz, [-1, outputs, cout]), [[0, 0], [0, 1], [0, 0]])  # (N, prod(O)+1, Cout)
    columns = tf.matmul(tf.reshape(dz, [-1, cout]), tf.reshape(kernel, [-1, cout]), transpose_b=True)
    columns = tf.reshape(columns, [-1, (outputs + 1) * math.prod(kernel.shape[:-2]), cin])
    dx = tf.reduce_sum(tf.gather(columns, _column_indices(geometry), axis=1), axis=2)  # (N, prod(size), Cin)
    return tf.reshape(dx, [-1] + [g.size for g in geometry] + [cin])


def _column_indices(geometry):
    """(prod(size), J) int32 constant: the columns o*T + t whose tap t of output o reads
    input cell i, then the zero column prod(O)*T (the zero output cell's first). A cell's
    (o, t) pairs are the product of its readers along each axis.
    """
    rank = len(geometry)
    taps = math.prod(g.kernel for g in geometry)
    index = np.zeros([1] * 2 * rank, np.int64)  # (*size, *J) once broadcast
    valid = np.ones([1] * 2 * rank, bool)
    for axis, g in enumerate(geometry):
        outputs, kernel_taps, reads = _axis_readers(g)  # (size, J_axis) each
        out_stride = math.prod(h.out for h in geometry[axis + 1:]) * taps
        tap_stride = math.prod(h.kernel for h in geometry[axis + 1:])
        shape = [1] * 2 * rank
        shape[axis], shape[rank + axis] = outputs.shape
        index = index + (outputs * out_stride + kernel_taps * tap_stride).reshape(shape)
        valid = valid & reads.reshape(shape)
    index = np.where(valid, index, math.prod(g.out for g in geometry) * taps)
    return tf.constant(index.reshape(math.prod(g.size for g in geometry), -1).astype(np.int32))


def _axis_readers(g):
    """Along one axis, the (output o, tap k) pairs that read input cell i: o*s + k*d = i + before.

    -> outputs, taps, reads: (size, J) each, J the most readers of any cell; each row's
    readers first, then filler entries marked False in `reads`.
    """
    k = np.broadcast_to(np.arange(g.kernel), (g.size, g.kernel))
    o, rest = np.divmod(np.arange(g.size)[:, None] + g.before - k * g.dilation, g.stride)
    reads = (rest == 0) & (o >= 0) & (o < g.out)  # (size, k)
    order = np.argsort(~reads, axis=1, kind="stable")[:, : reads.sum(axis=1).max()]
    return tuple(np.take_along_axis(a, order, axis=1) for a in (o, k, reads))


def _input_grad_by_spreading(dz, kernel, geometry, groups):
    """Insert stride-1 zeros between the cells of dz, pad by k_eff-1, correlate, stride 1."""
    spread = geo.dilate(dz, [g.stride for g in geometry])  # (N, *((O-1)*s+1), Cout)
    amounts = [
        (g.effective_kernel - 1 - g.before, g.size + g.before - (g.out - 1) * g.stride - 1)
        for g in geometry
    ]
    spread = geo.pad_amounts(spread, amounts)
    full = [
        geo.AxisGeometry(
            size=spread.shape[i + 1], kernel=g.kernel, stride=1, dilation=g.dilation,
            before=0, after=0, out=g.size,
        )
        for i, g in enumerate(geometry)
    ]
    unstrided = all(g.stride == 1 for g in geometry)
    dx, _ = _correlate_padded(spread, flip_kernel(kernel, groups), full, groups, unstrided)
    return dx


def _input_grad_by_phases(dz, kernel, geometry, groups):
    """Sub-pixel dL/dx for stride s: padded-input cell q*s + r only receives the taps
    k = r + j*s, from dz[q - j]. Each phase r is a stride-1 correlation of dz with that
    sub-kernel (flipped); the s^rank phases are then interleaved.
    """
    flipped = flip_kernel(kernel, groups)  # F[t] = W[K-1-t], channels swapped
    cin = flipped.shape[-1]
    rows = [-(-g.padded // g.stride) for g in geometry]  # Q: cells per phase, per axis
    phases = {}
    for phase in itertools.product(*[range(g.stride) for g in geometry]):
        taps = [-(-(g.kernel - r) // g.stride) for g, r in zip(geometry, phase)]  # J per axis
        if min(taps) <= 0:  # stride larger than the kernel: these cells see no tap
            phases[phase] = tf.zeros([tf.shape(dz)[0]] + rows + [cin], dz.dtype)
            continue
        index = [
            slice(g.kernel - 1 - r - (j - 1) * g.stride, g.kernel - r, g.stride)
            for g, r, j in zip(geometry, phase, taps)
        ]
        sub_kernel = flipped[tuple(index)]  # (*J, Cout/G, Cin)
        padded = geo.pad_amounts(dz, [(j - 1, q - g.out) for g, j, q in zip(geometry, taps, rows)])
        sub = [
            geo.AxisGeometry(size=q + j - 1, kernel=j, stride=1, dilation=1, before=0, after=0, out=q)
            for j, q in zip(taps, rows)
        ]
        phases[phase], _ = _correlate_padded(padded, sub_kernel, sub, groups)  # (N, *Q, Cin)
    dx_padded = geo.interleave(phases, [g.stride for g in geometry], rows, cin)
    crop = [slice(None)] + [slice(g.before, g.before + g.size) for g in geometry] + [slice(None)]
    return dx_padded[tuple(crop)]


def _check_channels(x, kernel, groups):
    cin, cg, cout = x.shape[-1], kernel.shape[-2], kernel.shape[-1]
    if groups < 1 or cin % groups or cout % groups:
        raise ValueError(
            f"groups={groups} must divide the input channels ({cin}) and the filters ({cout})."
        )
    if cin // groups != cg:
        raise ValueError(
            f"Kernel expects {cg} input channels per group (x{groups} groups = {cg * groups}); "
            f"the input has {cin} channels."
        )


def algorithm(geometry, channels, groups, outputs):
    """The algorithm a convolution of this static shape runs (a key of ALGORITHMS).

    - pointwise: 1x1 kernels are one matmul over the (strided) cells, with no patches;
    - few_channels: stride 1 on at most FEW_CHANNELS input channels, where im2col's gather
      copies a few bytes at a time: shifted contiguous rows instead (layers.ops.shifted);
    - few_channels_im2col: the same from GATHER_FEW_CHANNELS channels, where the gather copies
      enough bytes to beat the shifted rows' transposed matmul: im2col's forward and dL/dW;
      dL/dx by columns (im2col's col2im) up to FEW_CHANNELS_MAX_COLUMNS per example (with
      oneDNN on, FEW_CHANNELS_MAX_COLUMNS_ONEDNN), past it the shifted rows' col2im (one
      matmul and slices; the spread route would correlate dL/dz with a kernel of as few
      outputs as the input has channels);
    - space_to_depth: strided and undilated on at most FEW_CHANNELS input channels, with at
      least FOLD_MIN_COLUMNS im2col columns per example (below, the folds' transposes cost more
      than the narrow gather): the stride blocks folded into channels, then a stride-1
      algorithm (layers.ops.space_to_depth);
    - rows: groups 1 on FEW_CHANNELS+1 .. ROWS_MAX_CHANNELS input channels with a leading
      kernel axis longer than 1 and from ROWS_MIN_COLUMNS im2col columns per example: im2col
      over the trailing axes only, shifted row blocks along the leading one (layers.ops.rows);
    - kn2row: with oneDNN on, where rows fits at stride 1 in 2D and 3D, with at most
      KN2ROW_MAX_PADDED padded leading cells per output and KN2ROW_MAX_OUTPUTS outputs: im2col
      over the last axis only, one matmul to every leading tap's outputs, shifted column blocks
      summed (layers.ops.kn2row);
      the dL/dx of a stride-1 convolution takes it on the same terms (the phases of a strided
      one, with kernels of 1-2 taps per axis, keep rows);
    - im2col: everything else.
    """
    if all(g.kernel == 1 for g in geometry):
        return "pointwise"
    columns = math.prod(g.out * g.kernel for g in geometry) * channels
    if (groups == 1 and channels <= FEW_CHANNELS and any(g.stride > 1 for g in geometry)
            and all(g.dilation == 1 for g in geometry) and columns >= FOLD_MIN_COLUMNS):
        return "space_to_depth"
    if groups == 1 and channels <= FEW_CHANNELS and all(g.stride == 1 for g in geometry):
        return "few_channels_im2col" if channels >= GATHER_FEW_CHANNELS else "few_channels"
    if _kn2row_fit(geometry, channels, outputs, groups):
        return "kn2row"
    if _rows_fit(geometry, channels, groups):
        return "rows"
    return "im2col"


def _im2col_forward(x, kernel, geometry, groups):
    return correlate(geo.pad(x, geometry), kernel, geometry, groups)


def _im2col_backward(dz, kernel, geometry, groups, patches):
    return input_grad(dz, kernel, geometry, groups), weight_grad(patches, dz, kernel.shape, groups)


def _rows_backward(dz, kernel, geometry, groups, patches):
    return input_grad(dz, kernel, geometry, groups), rows.weight_grad(patches, dz, geometry, kernel.shape)


def _kn2row_backward(dz, kernel, geometry, groups, patches):
    return input_grad(dz, kernel, geometry, groups), kn2row.weight_grad(patches, dz, geometry, kernel.shape)


def _folded(channels, geometry, outputs):
    """The stride-1 geometry and algorithm (forward, backward) of the space-to-depth fold."""
    inner = s2d.inner_geometry(geometry)
    return inner, ALGORITHMS[algorithm(inner, math.prod(g.stride for g in geometry) * channels, 1, outputs)]


def _space_to_depth_forward(x, kernel, geometry, groups):
    inner, (forward, _) = _folded(x.shape[-1], geometry, kernel.shape[-1])
    folded_kernel = s2d.fold_kernel(kernel, geometry)
    z, saved = forward(s2d.fold_input(x, geometry), folded_kernel, inner, 1)
    return z, (folded_kernel, saved)


def _space_to_depth_backward(dz, kernel, geometry, groups, saved):
    folded_kernel, inner_saved = saved
    inner, (_, backward) = _folded(kernel.shape[-2], geometry, kernel.shape[-1])
    dx, dw = backward(dz, folded_kernel, inner, 1, inner_saved)
    return s2d.unfold_input(dx, geometry, kernel.shape[-2]), s2d.unfold_kernel(dw, geometry, kernel.shape)


def _few_channels_max_columns():
    """The columns route's limit in this process's mode (layers.ops.mode)."""
    return FEW_CHANNELS_MAX_COLUMNS_ONEDNN if mode.onednn() else FEW_CHANNELS_MAX_COLUMNS


def _few_channels_im2col_backward(dz, kernel, geometry, groups, patches):
    if _columns_per_example(kernel, geometry) <= _few_channels_max_columns():
        dx = _input_grad_by_columns(dz, kernel, geometry)
    else:
        dx = shifted.input_grad(dz, kernel, geometry)
    return dx, weight_grad(patches, dz, kernel.shape, groups)


ALGORITHMS = {  # name -> (forward -> (z, saved), backward(dz, ..., saved) -> (dx, dW))
    "pointwise": (pointwise.correlate, pointwise.backward),
    "few_channels": (shifted.correlate, shifted.backward),
    "space_to_depth": (_space_to_depth_forward, _space_to_depth_backward),
    "im2col": (_im2col_forward, _im2col_backward),
    "rows": (rows.correlate, _rows_backward),
    "kn2row": (kn2row.correlate, _kn2row_backward),
    "few_channels_im2col": (_im2col_forward, _few_channels_im2col_backward),
}


def conv(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1):
    """N-D convolution (cross-correlation), channels last, with a hand-written backward.

    x (N, *spatial, Cin), kernel (*k, Cin/groups, Cout) -> (N, *out, Cout).
    """
    rank = kernel.shape.rank - 2
    sizes = geo.spatial_shape(x, rank)
    strides = geo.normalize_tuple(strides, rank, "strides")
    dilation_rate = geo.normalize_tuple(dilation_rate, rank, "dilation_rate")
    padding = geo.normalize_padding(padding, allow_causal=rank == 1)
    _check_channels(x, kernel, groups)
    geometry = [
        geo.axis_geometry(n, k, s, d, padding)
        for n, k, s, d in zip(sizes, kernel.shape[:rank], strides, dilation_rate)
    ]

    forward, backward = ALGORITHMS[algorithm(geometry, x.shape[-1], groups, kernel.shape[-1])]

    @tf.custom_gradient
    def _conv(x, kernel):
        z, saved = forward(x, kernel, geometry, groups)
        return z, lambda dz: backward(dz, kernel, geometry, groups, saved)

    return _conv(x, kernel)


def transpose_padding(size, in_size, kernel, stride, dilation, padding):
    """Padding of the forward convolution whose input gradient a transposed conv computes.

    TensorFlow's rule for `conv_transpose`: the forward conv of an output of `size` cells with
    SAME padding pads (in-1)*s + k_eff - size cells in all, the smaller half in front.
    """
    if padding == "valid":
        return 0, 0
    total = max((in_size - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv_transpose(x, kernel, output_size, strides=1, padding="valid", dilation_rate=1):
    """N-D transposed convolution: the adjoint of `conv`, Keras kernel layout.

    x (N, *in, Cin), kernel (*k, Cout, Cin), output_size = spatial sizes of the result
    -> (N, *output_size, Cout).
    """
    rank = kernel.shape.rank - 2
    sizes = geo.spatial_shape(x, rank)
    strides = geo.normalize_tuple(strides, rank, "strides")
    dilation_rate = geo.normalize_tuple(dilation_rate, rank, "dilation_rate")
    padding = geo.normalize_padding(padding)
    if x.shape[-1] != kernel.shape[-1]:
        raise ValueError(
            f"Kernel expects {kernel.shape[-1]} input channels; the input has {x.shape[-1]}."
        )
    geometry = []
    for n_in, n_out, k, s, d in zip(sizes, output_size, kernel.shape[:rank], strides, dilation_rate):
        before, after = transpose_padding(n_out, n_in, k, s, d, padding)
        g = geo.explicit_axis_geometry(n_out, k, s, d, before, after)
        if g.out != n_in:
            raise ValueError(
                f"Output size {n_out} is not reachable from input size {n_in} with kernel {k}, "
                f"stride {s}, dilation {d} and padding {padding!r}."
            )
        geometry.append(g)

    @tf.custom_gradient
    def _conv_transpose(x, kernel):
        y = input_grad(x, kernel, geometry, 1)

        def backward(dy):
            dx, patches = correlate(geo.pad(dy, geometry), kernel, geometry, 1)
            dw = weight_grad(patches, x, kernel.shape, 1)
            return dx, dw

        return y, backward

    return _conv_transpose(x, kernel)

"""2-d convolution with Theano's semantics (`theano.tensor.nnet.conv2d`), and its two gradient ops.

Layouts are Theano's: input (batch, channels, rows, cols), filters (out channels, in channels / groups,
rows, cols). With `filter_flip` (the default) the filters are flipped spatially: a true convolution, as
in Theano; without it, a cross-correlation.

Ops defined here (each with infer, numpy reference and gradient):

- `conv2d{border, subsample, flip, dilation, groups}(x, w)`;
- `conv2d_grad_inputs{...}(w, gz, x)`: the gradient with respect to x (x only gives its shape);
- `conv2d_grad_filters{...}(x, gz, w)`: the gradient with respect to w (w only gives its shape).

`border` is 'valid', 'full', 'half' or a (rows, cols) padding; the run-time padding of 'full' and
'half' depends on the filter size, so it is computed when the op runs (`padding`).
The numpy reference gathers the input's windows with a strided view and contracts them with the
filters (`np.tensordot`: im2col + one BLAS product per group).
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from aotgraph.graph.basic import Op, Variable
from aotgraph.graph.rules import OpRule, register
from aotgraph.tensor.basic import apply, as_tensor_variable, type_error
from aotgraph.tensor.type import TensorType

__all__ = ["conv2d"]

_OP_NAMES = ("conv2d", "conv2d_grad_inputs", "conv2d_grad_filters")


# ---- geometry: shared by infer, perform and the compiled kernels ------------------------------------
# These three functions use plain Python only: codegen copies their source into built modules, so the
# compiled kernels check shapes with the same words.


def conv_axis_padding(border, axis, kernel, dilation):
    """The zero padding on each side of spatial `axis` (0: rows, 1: cols) for `border` and the filter size."""
    if border == "valid":
        return 0
    if border == "full":
        return (kernel - 1) * dilation
    if border == "half":
        return ((kernel - 1) * dilation + 1) // 2
    return border[axis]


def conv_output_size(size, kernel, pad, stride, dilation):
    """Output rows (or cols) of a convolution over `size` input rows; < 1 when the filter does not fit."""
    return (size + 2 * pad - ((kernel - 1) * dilation + 1)) // stride + 1


def conv_geometry_error(border, subsample, dilation, groups, x_shape, w_shape):
    """Why `x_shape` and `w_shape` (None: unknown) cannot be convolved, or None when they can."""
    c, k, cg = x_shape[1], w_shape[0], w_shape[1]
    if c is not None and cg is not None and c != cg * groups:
        return f"input has {c} channels but the filters expect {cg * groups} ({cg} per group x {groups} groups)"
    if k is not None and k % groups:
        return f"{k} output channels cannot be split into {groups} groups"
    for axis in (0, 1):
        size, kern = x_shape[2 + axis], w_shape[2 + axis]
        if size is None or kern is None:
            continue
        pad = conv_axis_padding(border, axis, kern, dilation[axis])
        if conv_output_size(size, kern, pad, subsample[axis], dilation[axis]) < 1:
            where = ("rows", "cols")[axis]
            return (f"the filter ({kern} {where}, dilation {dilation[axis]}) is larger than the input "
                    f"({size} {where} + padding {pad} on each side) with border_mode {border!r}")
    return None


def conv_check(name, border, subsample, dilation, groups, x_shape, w_shape):
    """(padding, output rows and cols) for actual shapes; a ValueError naming the op and shapes if they do not fit."""
    why = conv_geometry_error(border, subsample, dilation, groups, x_shape, w_shape)
    if why is not None:
        raise ValueError(f"{name}: {why} (input shape {tuple(x_shape)}, filter shape {tuple(w_shape)})")
    pad = tuple(conv_axis_padding(border, a, w_shape[2 + a], dilation[a]) for a in (0, 1))
    out = tuple(conv_output_size(x_shape[2 + a], w_shape[2 + a], pad[a], subsample[a], dilation[a]) for a in (0, 1))
    return pad, out


def conv_check_gradient(name, gz_shape, x_shape, w_shape, out):
    """Refuse an output gradient whose shape is not the convolution's output shape."""
    want = (x_shape[0], w_shape[0], out[0], out[1])
    if tuple(gz_shape) != want:
        raise ValueError(f"{name}: the output gradient has shape {tuple(gz_shape)}, the convolution's output "
                         f"has shape {want}")


GEOMETRY_FUNCTIONS = (conv_axis_padding, conv_output_size, conv_geometry_error, conv_check, conv_check_gradient)


def geometry(op: Op, x_shape, w_shape) -> tuple:
    """(padding, output rows and cols) of actual shapes, after checking them."""
    return conv_check(op.name, op.border, op.subsample, op.dilation, op.groups, x_shape, w_shape)


def _geometry_error(op: Op, x_shape, w_shape) -> str | None:
    return conv_geometry_error(op.border, op.subsample, op.dilation, op.groups, x_shape, w_shape)


def _out_shape(op: Op, x_shape, w_shape) -> tuple:
    sizes = []
    for axis in (0, 1):
        size, kern = x_shape[2 + axis], w_shape[2 + axis]
        if size is None or kern is None:
            sizes.append(None)
            continue
        pad = conv_axis_padding(op.border, axis, kern, op.dilation[axis])
        sizes.append(conv_output_size(size, kern, pad, op.subsample[axis], op.dilation[axis]))
    return (x_shape[0], w_shape[0], *sizes)


def _dtype(op_name: str, *types: TensorType) -> str:
    for t in types:
        if np.dtype(t.dtype).kind != "f":
            raise type_error(op_name, "takes floating-point tensors", *types)
    name = np.result_type(*[t.dtype for t in types]).name
    return "float32" if name == "float16" else name


def _check_ranks(op_name: str, types: list[TensorType], count: int) -> None:
    if len(types) != count:
        raise type_error(op_name, f"takes {count} inputs, got {len(types)}", *types)
    if any(t.ndim != 4 for t in types):
        raise type_error(op_name, "takes 4-d tensors: input (batch, channels, rows, cols) and filters "
                                  "(out channels, in channels / groups, rows, cols)", *types)


# ---- conv2d ---------------------------------------------------------------------------------------


def _conv_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    _check_ranks(op.name, types, 2)
    x, w = types
    why = _geometry_error(op, x.shape, w.shape)
    if why is not None:
        raise type_error(op.name, why, x, w)
    return [TensorType(_dtype(op.name, x, w), _out_shape(op, x.shape, w.shape))]


def _windows(xp: np.ndarray, kernel, out, op: Op) -> np.ndarray:
    """A read-only view (n, c, out rows, out cols, k rows, k cols) of the padded input's windows."""
    n, c = xp.shape[:2]
    sn, sc, sr, scol = xp.strides
    (s0, s1), (d0, d1) = op.subsample, op.dilation
    return as_strided(xp, (n, c, *out, *kernel), (sn, sc, sr * s0, scol * s1, sr * d0, scol * d1), writeable=False)


def _padded(x: np.ndarray, pad, dtype: str) -> np.ndarray:
    x = x.astype(dtype, copy=False)
    return np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1]))) if any(pad) else x


def _flipped(op: Op, w: np.ndarray, dtype: str) -> np.ndarray:
    w = w.astype(dtype, copy=False)
    return w[:, :, ::-1, ::-1] if op.flip else w


def _conv_perform(op: Op, x, w):
    dtype = _dtype(op.name, TensorType(x.dtype.name, ()), TensorType(w.dtype.name, ()))
    pad, out = geometry(op, x.shape, w.shape)
    xp, wf = _padded(x, pad, dtype), _flipped(op, w, dtype)
    win = _windows(xp, wf.shape[2:], out, op)
    g, cg, kg = op.groups, wf.shape[1], wf.shape[0] // op.groups
    result = np.empty((x.shape[0], wf.shape[0], *out), dtype)
    for j in range(g):
        part = np.tensordot(win[:, j * cg:(j + 1) * cg], wf[j * kg:(j + 1) * kg], axes=([1, 4, 5], [1, 2, 3]))
        result[:, j * kg:(j + 1) * kg] = part.transpose(0, 3, 1, 2)
    return (result,)


def _conv_grad(op: Op, inputs, outputs, gouts):
    (x, w), (gz,) = inputs, gouts
    return [apply(_sibling(op, "conv2d_grad_inputs"), w, gz, x), apply(_sibling(op, "conv2d_grad_filters"), x, gz, w)]


def _sibling(op: Op, name: str) -> Op:
    return Op(name, **op.params)


register("conv2d", OpRule(infer=_conv_infer, perform=_conv_perform, grad=_conv_grad))


# ---- the gradient with respect to the input ----------------------------------------------------------


def _grad_inputs_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    _check_ranks(op.name, types, 3)
    w, gz, x = types
    why = _geometry_error(op, x.shape, w.shape)
    if why is not None:
        raise type_error(op.name, why, w, gz, x)
    return [TensorType(_dtype(op.name, w, gz), x.shape)]


def _grad_inputs_perform(op: Op, w, gz, x):
    dtype = _dtype(op.name, TensorType(w.dtype.name, ()), TensorType(gz.dtype.name, ()))
    pad, out = geometry(op, x.shape, w.shape)
    wf = _flipped(op, w, dtype)
    conv_check_gradient(op.name, gz.shape, x.shape, w.shape, out)
    gz = gz.astype(dtype, copy=False)
    (s0, s1), (d0, d1) = op.subsample, op.dilation
    n, c, rows, cols = x.shape
    dxp = np.zeros((n, c, rows + 2 * pad[0], cols + 2 * pad[1]), dtype)
    g, cg, kg = op.groups, wf.shape[1], wf.shape[0] // op.groups
    for j in range(g):
        gz_j, w_j = gz[:, j * kg:(j + 1) * kg], wf[j * kg:(j + 1) * kg]
        for r in range(wf.shape[2]):
            for q in range(wf.shape[3]):
                rows_hit = slice(r * d0, r * d0 + s0 * (out[0] - 1) + 1, s0)
                cols_hit = slice(q * d1, q * d1 + s1 * (out[1] - 1) + 1, s1)
                term = np.tensordot(gz_j, w_j[:, :, r, q], axes=([1], [0])).transpose(0, 3, 1, 2)
                dxp[:, j * cg:(j + 1) * cg, rows_hit, cols_hit] += term
    return (np.ascontiguousarray(dxp[:, :, pad[0]:pad[0] + rows, pad[1]:pad[1] + cols]),)


def _grad_inputs_grad(op: Op, inputs, outputs, gouts):
    # dx = A_w^T gz is linear in w and in gz: <G, dx> = <conv2d(G, w), gz>.
    (w, gz, _), (gg,) = inputs, gouts
    return [apply(_sibling(op, "conv2d_grad_filters"), gg, gz, w), apply(_sibling(op, "conv2d"), gg, w), None]


register("conv2d_grad_inputs", OpRule(infer=_grad_inputs_infer, perform=_grad_inputs_perform,
                                      grad=_grad_inputs_grad))


# ---- the gradient with respect to the filters --------------------------------------------------------


def _grad_filters_infer(op: Op, types: list[TensorType]) -> list[TensorType]:
    _check_ranks(op.name, types, 3)
    x, gz, w = types
    why = _geometry_error(op, x.shape, w.shape)
    if why is not None:
        raise type_error(op.name, why, x, gz, w)
    return [TensorType(_dtype(op.name, x, gz), w.shape)]


def _grad_filters_perform(op: Op, x, gz, w):
    dtype = _dtype(op.name, TensorType(x.dtype.name, ()), TensorType(gz.dtype.name, ()))
    pad, out = geometry(op, x.shape, w.shape)
    xp = _padded(x, pad, dtype)
    conv_check_gradient(op.name, gz.shape, x.shape, w.shape, out)
    gz = gz.astype(dtype, copy=False)
    win = _windows(xp, w.shape[2:], out, op)
    g, cg, kg = op.groups, w.shape[1], w.shape[0] // op.groups
    dw = np.empty(w.shape, dtype)
    for j in range(g):
        dw[j * kg:(j + 1) * kg] = np.tensordot(gz[:, j * kg:(j + 1) * kg], win[:, j * cg:(j + 1) * cg],
                                               axes=([0, 2, 3], [0, 2, 3]))
    return (np.ascontiguousarray(dw[:, :, ::-1, ::-1]) if op.flip else dw,)


def _grad_filters_grad(op: Op, inputs, outputs, gouts):
    # dw = B_x^T gz is linear in x and in gz: <G, dw> = <conv2d(x, G), gz>.
    (x, gz, _), (gg,) = inputs, gouts
    return [apply(_sibling(op, "conv2d_grad_inputs"), gg, gz, x), apply(_sibling(op, "conv2d"), x, gg), None]


register("conv2d_grad_filters", OpRule(infer=_grad_filters_infer, perform=_grad_filters_perform,
                                       grad=_grad_filters_grad))


# ---- the user's function ------------------------------------------------------------------------------


def _pair(what: str, value, minimum: int) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in pair):
        raise TypeError(f"conv2d: {what} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in pair):
        raise ValueError(f"conv2d: {what} must be >= {minimum}, got {value!r}")
    return (int(pair[0]), int(pair[1]))


def _border(border_mode):
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a pair of ints, "
                             f"got {border_mode!r}")
        return border_mode
    pad = _pair("border_mode", border_mode, 0)
    return "valid" if pad == (0, 0) else pad


def _hinted(var: Variable, hint, what: str) -> TensorType:
    """var's type with the sizes of the `input_shape` / `filter_shape` hint filled in (checked against it)."""
    if hint is None:
        return var.type
    hint = tuple(None if h is None else int(h) for h in hint)
    if len(hint) != var.ndim:
        raise ValueError(f"conv2d: {what} {hint} has {len(hint)} entries; the tensor is {var.ndim}-d")
    for s, h in zip(var.type.shape, hint):
        if s is not None and h is not None and s != h:
            raise ValueError(f"conv2d: {what} {hint} does not match the tensor's static shape {var.type.shape}")
    return TensorType(var.dtype, tuple(s if s is not None else h for s, h in zip(var.type.shape, hint)))


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1),
           filter_flip: bool = True, image_shape=None, filter_dilation=(1, 1), num_groups: int = 1,
           unshared: bool = False, **kwargs) -> Variable:
    """Theano's conv2d: a batch of multi-channel images (4-d) convolved with a bank of filters (4-d).

    `input_shape` / `filter_shape` are hints (None entries: unknown), checked against the tensors and
    used to catch shape errors when the graph is built. `image_shape` is Theano's old name of input_shape.
    """
    if kwargs:
        raise TypeError(f"conv2d: unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    if unshared:
        raise NotImplementedError("conv2d: unshared (locally connected) filters are not supported")
    input, filters = as_tensor_variable(input), as_tensor_variable(filters)
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) or num_groups < 1:
        raise ValueError(f"conv2d: num_groups must be a positive int, got {num_groups!r}")
    op = Op("conv2d", border=_border(border_mode), subsample=_pair("subsample", subsample, 1),
            flip=bool(filter_flip), dilation=_pair("filter_dilation", filter_dilation, 1), groups=int(num_groups))
    hinted = [_hinted(input, input_shape if input_shape is not None else image_shape, "input_shape"),
              _hinted(filters, filter_shape, "filter_shape")]
    if input.ndim == 4 and filters.ndim == 4:
        why = _geometry_error(op, hinted[0].shape, hinted[1].shape)
        if why is not None:
            raise type_error("conv2d", why, *hinted)
    return apply(op, input, filters)

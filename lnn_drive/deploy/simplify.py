"""Graph simplifications of an exported step graph that ONNX Runtime does not do itself.

A recurrent cell at batch 1 is dozens of tiny nodes (a CfC layer is four ``Gemm`` on the
same input, an ``Add``, two ``Tanh``, a ``Sigmoid`` and a few element-wise ops), and at
that size each node costs about its dispatch overhead, not its arithmetic. Two rewrites
remove nodes without changing what is computed (up to float rounding), and a third
removes weight:

- :func:`fold_gemm_sums`: ``Gemm(A, W1, b1) + Gemm(A, W2, b2)`` -> ``Gemm(A, W1 + W2,
  b1 + b2)`` (the CfC time gate ``time_a(x) * t + time_b(x)`` at ``t = 1``);
- :func:`merge_parallel_gemms`: the ``Gemm`` nodes that read the same input with constant
  weights -> one ``Gemm`` on the stacked weights and a ``Split`` (ff1, ff2 and the time
  gate of a CfC layer; the gates of an LSTM's cell);
- :func:`shrink_layer_norm_constants`: a ``LayerNormalization`` without affine (scale all
  ones, bias all zeros, as the exporter writes ``F.layer_norm(x, shape)``) gets its scale
  from an ``Expand`` of one 1 and no bias: the per-image standardisation over a 78x200x3
  frame otherwise stores 2 x 46,800 constants (374 kB), more than the whole int8 model.

:func:`pad_rgb_conv_input` is for the int8 graph only (see there). All work on
``onnx.ModelProto`` in place and need only ``onnx`` and numpy.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _gemm_kind(node: Any, consts: dict[str, np.ndarray]) -> tuple[str, int] | None:
    """``(A, transB)`` for a plain Gemm ``A @ op(W) + b`` with constant 2-d ``W`` and 1-d
    ``b`` (alpha = beta = 1, no transA), else ``None``."""
    if node.op_type != "Gemm" or len(node.input) != 3:
        return None
    a = _attrs(node)
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        return None
    w, b = consts.get(node.input[1]), consts.get(node.input[2])
    if w is None or b is None or w.ndim != 2 or b.ndim != 1:
        return None
    out = w.shape[0] if a.get("transB", 0) else w.shape[1]
    if b.shape != (out,):
        return None
    return node.input[0], int(a.get("transB", 0))


def _weights(node: Any, consts: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(W as (out, in), b (out,)) of a plain Gemm."""
    w = consts[node.input[1]]
    if not _attrs(node).get("transB", 0):
        w = w.T
    return w, consts[node.input[2]]


class _Graph:
    """Constants, consumers and fresh names of a graph (rebuilt after each rewrite)."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.model, self.graph = model, model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for n in self.graph.node:
            for x in n.input:
                self.consumers[x].append(n)
        self.outputs = {o.name for o in self.graph.output}
        self.names = {x for n in self.graph.node for x in (*n.input, *n.output)} | set(self.consts)
        self._k = 0

    def fresh(self, stem: str) -> str:
        while True:
            self._k += 1
            name = f"{stem}_simplified_{self._k}"
            if name not in self.names:
                self.names.add(name)
                return name

    def add_const(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.fresh(stem)
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def only_consumer(self, value: str) -> Any | None:
        c = self.consumers.get(value, [])
        return c[0] if len(c) == 1 and value not in self.outputs else None

    def drop_unused_initializers(self) -> None:
        used = {x for n in self.graph.node for x in n.input}
        keep = [i for i in self.graph.initializer if i.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)


def fold_gemm_sums(model: Any) -> int:
    """Replace ``Add(Gemm(A, W1, b1), Gemm(A, W2, b2))`` (constant weights, each Gemm read
    only by that Add) by one Gemm on ``W1 + W2``, ``b1 + b2``. Returns the number folded."""
    import onnx

    g = _Graph(model)
    folded, drop = 0, set()
    for add in list(g.graph.node):
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        prods = [next((n for n in g.graph.node if x in n.output), None) for x in add.input]
        if any(
            p is None or id(p) in drop or g.only_consumer(p.output[0]) is not add for p in prods
        ):
            continue
        kinds = [_gemm_kind(p, g.consts) for p in prods]
        if None in kinds or kinds[0][0] != kinds[1][0]:  # type: ignore[index]
            continue
        (w1, b1), (w2, b2) = (_weights(p, g.consts) for p in prods)
        if w1.shape != w2.shape:
            continue
        gemm = onnx.helper.make_node(
            "Gemm",
            [
                prods[0].input[0],
                g.add_const("gemm_sum_weight", (w1 + w2).astype(w1.dtype)),
                g.add_const("gemm_sum_bias", (b1 + b2).astype(b1.dtype)),
            ],
            [add.output[0]],
            name=g.fresh("gemm_sum"),
            transB=1,
        )
        at = list(g.graph.node).index(add)
        g.graph.node.insert(at, gemm)
        drop.update({id(add), id(prods[0]), id(prods[1])})
        folded += 1
    if folded:
        keep = [n for n in g.graph.node if id(n) not in drop]
        del g.graph.node[:]
        g.graph.node.extend(keep)
        g.drop_unused_initializers()
    return folded


def merge_parallel_gemms(model: Any) -> int:
    """Replace the plain Gemms that read the same input (constant weights) by one Gemm on
    the stacked weights followed by a ``Split``. Returns the number of Gemms removed."""
    import onnx

    g = _Graph(model)
    groups: dict[str, list[Any]] = defaultdict(list)
    for n in g.graph.node:
        kind = _gemm_kind(n, g.consts)
        if kind is not None:
            groups[kind[0]].append(n)
    removed, drop = 0, set()
    nodes = list(g.graph.node)
    for a, gemms in groups.items():
        if len(gemms) < 2:
            continue
        ws, bs = zip(*(_weights(n, g.consts) for n in gemms), strict=True)
        if len({w.shape[1] for w in ws}) != 1 or len({w.dtype for w in ws}) != 1:
            continue
        sizes = np.array([w.shape[0] for w in ws], np.int64)
        merged = g.fresh("gemm_merged")
        gemm = onnx.helper.make_node(
            "Gemm",
            [
                a,
                g.add_const("gemm_merged_weight", np.concatenate(ws)),
                g.add_const("gemm_merged_bias", np.concatenate(bs)),
            ],
            [merged],
            name=merged,
            transB=1,
        )
        split = onnx.helper.make_node(
            "Split",
            [merged, g.add_const("gemm_merged_sizes", sizes)],
            [n.output[0] for n in gemms],
            name=g.fresh("gemm_split"),
            axis=1,
        )
        first = min(nodes.index(n) for n in gemms)  # A is produced before every one of them
        nodes[first:first] = [gemm, split]
        drop.update(id(n) for n in gemms)
        removed += len(gemms) - 1
    if removed:
        del g.graph.node[:]
        g.graph.node.extend(n for n in nodes if id(n) not in drop)
        g.drop_unused_initializers()
    return removed


def shrink_layer_norm_constants(model: Any) -> int:
    """Store each affine-free ``LayerNormalization``'s all-ones scale as an ``Expand`` of a
    single 1 (ONNX Runtime folds it back into a constant at load, so the kernel keeps its
    fast path: a one-element scale that it broadcasts instead runs 4x slower, measured)
    and drop its all-zeros bias. Returns the number of nodes changed."""
    import onnx

    g = _Graph(model)
    changed = 0
    nodes = list(g.graph.node)
    for n in list(nodes):
        if n.op_type != "LayerNormalization" or len(n.input) < 2:
            continue
        scale = g.consts.get(n.input[1])
        has_bias = len(n.input) > 2 and bool(n.input[2])
        bias = g.consts.get(n.input[2]) if has_bias else None
        if scale is None or scale.size <= 1 or not np.all(scale == 1):
            continue
        if has_bias and (bias is None or np.any(bias != 0)):
            continue
        ones = g.fresh("layer_norm_scale")
        expand = onnx.helper.make_node(
            "Expand",
            [
                g.add_const("layer_norm_one", np.ones(1, scale.dtype)),
                g.add_const("layer_norm_shape", np.array(scale.shape, np.int64)),
            ],
            [ones],
            name=ones,
        )
        nodes.insert(nodes.index(n), expand)
        n.input[1] = ones
        del n.input[2:]
        changed += 1
    if changed:
        del g.graph.node[:]
        g.graph.node.extend(nodes)
        g.drop_unused_initializers()
    return changed


def pad_rgb_conv_input(model: Any) -> int:
    """Give each convolution on channel-last RGB frames a fourth, all-zero input channel.

    The pattern is ``Transpose(perm=[0, 3, 1, 2]) -> Conv`` with a constant (C_out, 3, k,
    k) weight: the transpose's input gets a ``MatMul`` by the (3, 4) matrix ``[I | 0]`` and
    the weight a zero slice, so the convolution computes exactly what it did. For int8
    only: ONNX Runtime's int8 convolution of 4 input channels is much faster than of 3
    (measured: the first convolution about 30% faster; the whole step, the MatMul
    included, about 3%: -1% to +7% over four interleaved runs); its fp32 convolution is
    slower with it, so the fp32 export keeps 3.
    Returns the number of convolutions changed.
    """
    import onnx

    g = _Graph(model)
    nodes = list(g.graph.node)
    changed, stale = 0, set()
    for conv in list(nodes):
        w = g.consts.get(conv.input[1]) if conv.op_type == "Conv" and len(conv.input) > 1 else None
        if w is None or w.ndim != 4 or w.shape[1] != 3 or _attrs(conv).get("group", 1) != 1:
            continue
        tr = next((n for n in nodes if conv.input[0] in n.output), None)
        if (
            tr is None
            or tr.op_type != "Transpose"
            or list(_attrs(tr).get("perm", [])) != [0, 3, 1, 2]
        ):
            continue
        if g.only_consumer(tr.output[0]) is not conv or g.only_consumer(conv.input[1]) is not conv:
            continue
        rgb4 = g.fresh("rgb_to_4_channels")
        eye = np.eye(3, 4, dtype=w.dtype)  # (3, 4): x @ eye = [x, 0]
        mm = onnx.helper.make_node(
            "MatMul", [tr.input[0], g.add_const("rgb_pad", eye)], [rgb4], name=rgb4
        )
        nodes.insert(nodes.index(tr), mm)
        tr.input[0] = rgb4
        w4 = np.concatenate([w, np.zeros_like(w[:, :1])], axis=1)  # (C_out, 4, k, k)
        conv.input[1] = g.add_const("conv_weight_4_channels", w4)
        stale.add(tr.output[0])  # its inferred shape had 3 channels
        changed += 1
    if changed:
        del g.graph.node[:]
        g.graph.node.extend(nodes)
        g.drop_unused_initializers()
        keep = [v for v in g.graph.value_info if v.name not in stale]
        del g.graph.value_info[:]
        g.graph.value_info.extend(keep)
    return changed


def simplify(model: Any) -> dict[str, int]:
    """Apply every rewrite (in place); returns how many times each applied."""
    import onnx

    done = {
        "gemm_sums": fold_gemm_sums(model),
        "parallel_gemms": merge_parallel_gemms(model),
        "layer_norm_constants": shrink_layer_norm_constants(model),
    }
    onnx.checker.check_model(model)
    return done

"""The exported graph's rewrites: fewer nodes, the same outputs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from lnn_drive.deploy.simplify import (
    fold_gemm_sums,
    merge_parallel_gemms,
    pad_rgb_conv_input,
    shrink_layer_norm_constants,
    simplify,
)


def _model(nodes, inits, *, n_in: int = 5, outputs: dict[str, int]) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", n_in])
    ys = [helper.make_tensor_value_info(k, TensorProto.FLOAT, ["B", v]) for k, v in outputs.items()]
    init = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()]
    g = helper.make_graph(nodes, "g", [x], ys, init)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})


def _cell() -> onnx.ModelProto:
    """A CfC-like layer: four Gemms on x (two of them summed), plus one Gemm on another
    input (not merged) and one with transB=0."""
    rng = np.random.default_rng(0)
    w = {f"w{i}": rng.standard_normal((3, 5)) for i in range(4)}
    b = {f"b{i}": rng.standard_normal(3) for i in range(4)}
    extra = {"w5": rng.standard_normal((3, 2)), "b5": rng.standard_normal(2)}
    nodes = [
        helper.make_node("Gemm", ["x", "w0", "b0"], ["g0"], transB=1),
        helper.make_node("Gemm", ["x", "w1", "b1"], ["g1"], transB=1),
        helper.make_node("Gemm", ["x", "w2", "b2"], ["g2"], transB=1),
        helper.make_node("Gemm", ["x", "w3", "b3"], ["g3"], transB=1),
        helper.make_node("Tanh", ["g0"], ["t0"]),
        helper.make_node("Tanh", ["g1"], ["t1"]),
        helper.make_node("Add", ["g2", "g3"], ["s"]),
        helper.make_node("Sigmoid", ["s"], ["gate"]),
        helper.make_node("Mul", ["t0", "gate"], ["m"]),
        helper.make_node("Add", ["m", "t1"], ["h"]),
        helper.make_node("Gemm", ["h", "w5", "b5"], ["y"]),  # transB=0, another input
    ]
    return _model(nodes, {**w, **b, **extra}, outputs={"h": 3, "y": 2})


def test_gemm_rewrites_keep_the_outputs_and_remove_nodes() -> None:
    model = _cell()
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    ref = _run(model, x)
    assert fold_gemm_sums(model) == 1  # g2 + g3
    assert merge_parallel_gemms(model) == 2  # g0, g1 and the folded sum -> one Gemm
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gemm") == 2 and ops.count("Split") == 1 and ops.count("Add") == 1
    for a, b in zip(ref, _run(model, x), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)
    # only the initializers still read remain
    used = {i for n in model.graph.node for i in n.input}
    assert {i.name for i in model.graph.initializer} <= used


def test_gemm_rewrites_leave_shared_or_non_constant_gemms() -> None:
    """A Gemm whose output is also read elsewhere is not folded into a sum, and Gemms with
    a computed weight are not merged."""
    rng = np.random.default_rng(0)
    inits = {k: rng.standard_normal((3, 5)) for k in ("w0", "w1")}
    inits |= {k: rng.standard_normal(3) for k in ("b0", "b1")}
    nodes = [
        helper.make_node("Gemm", ["x", "w0", "b0"], ["g0"], transB=1),
        helper.make_node("Gemm", ["x", "w1", "b1"], ["g1"], transB=1),
        helper.make_node("Add", ["g0", "g1"], ["s"]),
        helper.make_node("Mul", ["s", "g0"], ["y"]),  # g0 read twice
        helper.make_node("Neg", ["w0"], ["nw"]),
        helper.make_node("Gemm", ["x", "nw", "b0"], ["z"], transB=1),  # computed weight
    ]
    model = _model(nodes, inits, outputs={"y": 3, "z": 3})
    assert fold_gemm_sums(model) == 0
    assert merge_parallel_gemms(model) == 1  # g0 and g1 only
    assert [n.op_type for n in model.graph.node].count("Gemm") == 2


def test_layer_norm_constants_shrink_and_the_output_stays() -> None:
    n = 300
    nodes = [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1, epsilon=1 / n)]
    model = _model(nodes, {"s": np.ones(n), "b": np.zeros(n)}, n_in=n, outputs={"y": n})
    x = np.random.default_rng(0).uniform(0, 255, (2, n)).astype(np.float32)
    ref = _run(model, x)[0]
    before = model.ByteSize()
    assert shrink_layer_norm_constants(model) == 1
    assert model.ByteSize() < before / 4  # the 2 x 300 floats are gone
    np.testing.assert_allclose(_run(model, x)[0], ref, rtol=0, atol=1e-6)
    # a real affine is kept
    affine = _model(nodes, {"s": np.full(n, 2.0), "b": np.zeros(n)}, n_in=n, outputs={"y": n})
    assert shrink_layer_norm_constants(affine) == 0


@pytest.mark.parametrize("name", ["ncp_cfc", "lstm", "gru"])
def test_exported_graphs_are_simplified(name: str, exported) -> None:
    _, path = exported[name]
    model = onnx.load(str(path))
    if name == "ncp_cfc":  # three layers of four Gemms each -> one Gemm per layer
        assert [n.op_type for n in model.graph.node].count("Gemm") == 3
    assert not any(simplify(model).values())  # the export applied every rewrite already
    ln = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
    assert len(ln) == 1 and len(ln[0].input) == 2  # no bias
    scale = next(n for n in model.graph.node if ln[0].input[1] in n.output)
    assert scale.op_type == "Expand"  # not a stored (h*w*3,) constant, nor a broadcast one


def test_int8_graph_keeps_the_small_standardisation(tmp_path, exported) -> None:
    """quant_pre_process folds the Expand back into a constant; the int8 file must not
    carry it (it would double the model's bytes)."""
    from lnn_drive.deploy.export import quantize_int8
    from tests.deploy.conftest import frame_sequence

    _, path = exported["ncp_cfc"]
    q = quantize_int8(path, tmp_path / "q.onnx", frame_sequence(8))
    model = onnx.load(str(q))
    per_pixel = [i.name for i in model.graph.initializer if np.prod(i.dims) == 3 * 40 * 96]
    assert per_pixel == []


def test_rgb_conv_input_padding_keeps_the_convolution() -> None:
    """Transpose(NHWC -> NCHW) -> Conv on 3 channels becomes MatMul [I | 0] -> Transpose
    -> Conv on 4 channels with a zero weight slice: the same output."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3, 5, 5))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 12, 16, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "w", "b"], ["y"], pads=[2, 2, 2, 2], strides=[2, 2]),
    ]
    inits = [
        numpy_helper.from_array(w.astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "b"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], inits),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    frames = rng.standard_normal((2, 12, 16, 3)).astype(np.float32)
    run = lambda m: ort.InferenceSession(m.SerializeToString()).run(None, {"x": frames})[0]  # noqa: E731
    ref = run(model)
    assert pad_rgb_conv_input(model) == 1
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Transpose", "Conv"]
    w4 = next(i for i in model.graph.initializer if i.name == model.graph.node[2].input[1])
    assert list(w4.dims) == [6, 4, 5, 5]
    np.testing.assert_allclose(run(model), ref, rtol=1e-5, atol=1e-5)
    assert pad_rgb_conv_input(model) == 0  # 4 channels now: nothing more to do


def test_int8_export_pads_only_the_rgb_convolution(tmp_path, exported) -> None:
    from lnn_drive.deploy.export import quantize_int8
    from tests.deploy.conftest import frame_sequence

    _, path = exported["ncp_cfc"]
    fp32_ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    q = quantize_int8(path, tmp_path / "q.onnx", frame_sequence(8))
    nodes = onnx.load(str(q)).graph.node
    assert "rgb_to_4_channels" not in " ".join(n.name for n in onnx.load(str(path)).graph.node)
    assert sum(n.name.startswith("rgb_to_4_channels") for n in nodes) == 1
    assert fp32_ops.count("MatMul") == 1  # the fp32 file keeps 3 channels

"""ONNX test models written with onnx.helper, and an independent cut computation.

``side_input_model``: a branchy graph with every feature the ONNX path must handle — a
``Constant`` node and a node computing from weights alone (both weight-only), a residual
connection (2-tensor cuts), a side input read only at the end, and outputs of three dtypes
(float32, int64 from ``Shape``, bool from ``Greater``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def side_input_model(path: Path, *, symbolic_batch: bool = False) -> Path:
    rng = np.random.default_rng(0)
    batch: int | str = "N" if symbolic_batch else 1
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])
    side = helper.make_tensor_value_info("side", TensorProto.FLOAT, [batch, 4])
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "W2"),
        numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "W3"),
        numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
    ]
    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["c0"],
            name="const_scale",
            value=numpy_helper.from_array(np.array([0.5], np.float32)),
        ),
        helper.make_node("Conv", ["x", "W1"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["b"], name="relu1"),
        helper.make_node("Mul", ["W2", "c0"], ["w2s"], name="scale_weights"),
        helper.make_node("Conv", ["b", "w2s"], ["d"], name="conv2"),
        helper.make_node("Add", ["d", "b"], ["e"], name="residual"),
        helper.make_node("Shape", ["e"], ["e_shape"], name="shape"),
        helper.make_node("ReduceMean", ["e"], ["g"], name="pool", axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["g", "W3"], ["h"], name="fc"),
        helper.make_node("Add", ["h", "side"], ["y"], name="add_side"),
        helper.make_node("Greater", ["h", "zero"], ["positive"], name="positive"),
    ]
    outputs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4]),
        helper.make_tensor_value_info("e_shape", TensorProto.INT64, [4]),
        helper.make_tensor_value_info("positive", TensorProto.BOOL, [batch, 4]),
    ]
    graph = helper.make_graph(nodes, "side_input", [x, side], outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def fused_block_model(path: Path) -> Path:
    """A residual block ONNX Runtime fuses across node boundaries: conv_a→relu_a becomes one
    Conv kernel with a Relu activation, and conv_b→add_b→relu_b one Conv kernel with a fused
    Sum and Relu; then a pooled classifier it does not fuse, with a shape computation it folds
    into a constant at load time (Shape of the pooled tensor, fed to an Expand).
    Positions: conv_a 0, relu_a 1, conv_b 2, add_b 3, relu_b 4, pool 5, shape 6, expand 7,
    flatten 8, fc 9."""
    rng = np.random.default_rng(3)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 24, 24])
    inits = [
        numpy_helper.from_array(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), "Wa"),
        numpy_helper.from_array(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), "Wb"),
        numpy_helper.from_array(rng.standard_normal((10, 16)).astype(np.float32), "Wfc"),
    ]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "Wa"], ["a"], name="conv_a", pads=pads),
        helper.make_node("Relu", ["a"], ["ra"], name="relu_a"),
        helper.make_node("Conv", ["ra", "Wb"], ["b"], name="conv_b", pads=pads),
        helper.make_node("Add", ["b", "ra"], ["s"], name="add_b"),
        helper.make_node("Relu", ["s"], ["rs"], name="relu_b"),
        helper.make_node("GlobalAveragePool", ["rs"], ["p"], name="pool"),
        helper.make_node("Shape", ["p"], ["p_shape"], name="shape"),
        helper.make_node("Expand", ["p", "p_shape"], ["pe"], name="expand"),
        helper.make_node("Flatten", ["pe"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "Wfc"], ["y"], name="fc", transB=1),
    ]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    graph = helper.make_graph(nodes, "fused_block", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def matmul_add_model(path: Path) -> Path:
    """MatMul of a 3-D input and a bias Add, then Relu and Sigmoid: ONNX Runtime runs the first
    two as one Gemm between two Reshapes of tensors it makes up (MatMulAddFusion).
    Positions: mm 0, bias 1, relu 2, squash 3."""
    rng = np.random.default_rng(5)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16])
    inits = [
        numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal((32,)).astype(np.float32), "B"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "B"], ["a"], name="bias"),
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("Sigmoid", ["r"], ["y"], name="squash"),
    ]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 32])
    graph = helper.make_graph(nodes, "matmul_add", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def with_unknown_operator(path: Path) -> Path:
    """A chain Relu → splitbench.test:Mystery → Relu → Sigmoid: ONNX Runtime has no kernel for
    the middle node, so every part holding it fails, and the others run."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="first"),
        helper.make_node("Mystery", ["a"], ["b"], name="mystery", domain="splitbench.test"),
        helper.make_node("Relu", ["b"], ["c"], name="second"),
        helper.make_node("Sigmoid", ["c"], ["y"], name="last"),
    ]
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph(nodes, "unknown_op", [x], [y], value_info=[b])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("splitbench.test", 1)],
    )
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def legacy_opset_model(path: Path, opset: int = 7) -> Path:
    """A model as opset-7 exporters wrote them: IR version 3 (every initializer also listed as
    a graph input) and the operators' old forms — BatchNormalization-7, Upsample with a
    ``scales`` attribute, Pad/Squeeze/Unsqueeze with attributes, Reshape, Gemm, 2-D Softmax.
    ``opset`` stamps another opset on the same graph (for the refusal of older ones)."""
    rng = np.random.default_rng(7)
    arrays = {
        "W1": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "bn_scale": np.ones(4, np.float32),
        "bn_bias": np.zeros(4, np.float32),
        "bn_mean": rng.standard_normal(4).astype(np.float32),
        "bn_var": (np.abs(rng.standard_normal(4)) + 0.5).astype(np.float32),
        "flat_shape": np.array([1, -1], np.int64),
        "Wfc": rng.standard_normal((5, 4 * 4 * 4 * 4)).astype(np.float32),
        "bfc": rng.standard_normal(5).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "W1"], ["a"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node(
            "BatchNormalization",
            ["a", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
            ["bn"],
            name="bn",
        ),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node(
            "Upsample", ["p"], ["u"], name="upsample", scales=[1.0, 1.0, 2.0, 2.0], mode="nearest"
        ),
        helper.make_node("Add", ["u", "r"], ["res"], name="residual"),
        helper.make_node("Pad", ["res"], ["pd"], name="pad", pads=[0] * 8, mode="constant"),
        helper.make_node("Unsqueeze", ["pd"], ["us"], name="unsqueeze", axes=[0]),
        helper.make_node("Squeeze", ["us"], ["sq"], name="squeeze", axes=[0]),
        helper.make_node(
            "MaxPool", ["sq"], ["p2"], name="stride", kernel_shape=[1, 1], strides=[2, 2]
        ),
        helper.make_node("Concat", ["p2", "p2", "p2", "p2"], ["cat"], name="concat", axis=1),
        helper.make_node("Reshape", ["cat", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "Wfc", "bfc"], ["g"], name="fc", transB=1),
        helper.make_node("Softmax", ["g"], ["y"], name="softmax"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    weight_inputs = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for name, a in arrays.items()
    ]
    graph = helper.make_graph(
        nodes,
        "legacy",
        [x, *weight_inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        initializer=[numpy_helper.from_array(a, name) for name, a in arrays.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 3
    onnx.save(model, str(path))
    return path


def independent_cuts(path: Path, feeds: dict[str, np.ndarray]) -> list[tuple[set[str], int]]:
    """Per split k (file order): the crossing tensors by the definition, and their bytes as
    ONNX Runtime produces them (every value exposed as an output) — no splitbench code."""
    import onnxruntime as ort

    model = onnx.load(str(path))
    g = model.graph
    weights = {t.name for t in g.initializer}
    changed = True
    while changed:  # constants and nodes computing from weights alone, transitively
        changed = False
        for node in g.node:
            outs = [o for o in node.output if o]
            if outs and all(i in weights for i in node.input if i) and not set(outs) <= weights:
                if any(o in {v.name for v in g.output} for o in outs):
                    continue
                weights.update(outs)
                changed = True
    graph_inputs = [v.name for v in g.input if v.name not in weights]
    graph_outputs = {v.name for v in g.output}
    values = sorted({o for n in g.node for o in n.output if o and o not in weights})
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    del exposed.graph.output[:]
    exposed.graph.output.extend([onnx.ValueInfoProto(name=v) for v in values])
    session = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    produced = dict(zip(values, session.run(values, feeds), strict=True))
    produced.update(feeds)
    cuts = []
    n = len(g.node)
    for k in range(n + 1):
        before = set(graph_inputs) | {o for node in g.node[:k] for o in node.output if o}
        after = {i for node in g.node[k:] for i in node.input if i}
        crossing = {t for t in before if t not in weights and (t in after or t in graph_outputs)}
        cuts.append((crossing, sum(int(produced[t].nbytes) for t in crossing)))
    return cuts

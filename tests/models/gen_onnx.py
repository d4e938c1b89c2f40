#!/usr/bin/python3
"""Writes the ONNX models the tensor tests use into DIR (made at test time
with Debian's python3-onnx, so the repository carries no binary models):

  conv.onnx  x f32 [1,1,8,8] -> Conv -> Relu -> MaxPool -> Flatten -> Gemm
             -> Softmax -> y f32 [1,10]; weights as initializers only
  two.onnx   a f32 [2,3], b f32 [3,4], c f32 [2,4] -> prod = a @ b,
             sum = prod + c; its weight w is an initializer that is also
             listed as an input (as older exporters did): not an input
  ids.onnx   ids i64 [batch,4] -> Cast -> out f32 [batch,4]
  add.onnx   x f32 [1,n], y f32 [1,n] -> z = x + y f32 [1,n] (any n: large
             inputs for the agent's shared-memory path and the benchmark)
  ssd.onnx   x f32 [1,3,R,7] -> det f32 [1,1,R,7], an SSD detector's output
             layout whose rows the caller writes: det is x's channel 0 (a
             1x1 Conv) times diag(1, 1, 1/255, ...), so an image of R rows
             of 7 pixels (blue = row values, scale 1) comes out as rows of
             (image, class, score, x1, y1, x2, y2) with the last five in
             0..1 (tests/test_detect.c; with its ssd.meta bundle)

and, for each, inputs and the outputs NumPy computes from them, as
MODEL.NAME.npy (conv.x.npy, conv.y.npy, ...), for model_run to match.

    /usr/bin/python3 tests/models/gen_onnx.py DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def refs(path, **arrays):
    """Writes each array as MODEL.NAME.npy next to the model."""
    base = path[:-len(".onnx")]
    for name, a in arrays.items():
        np.save(f"{base}.{name}.npy", a)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)


def conv_ref(x, w, b, g, gb):
    """What conv.onnx computes, in plain NumPy (float64, then f32)."""
    c = np.zeros((4, 6, 6))
    for o in range(4):
        for i in range(6):
            for j in range(6):
                c[o, i, j] = np.sum(x[0, 0, i:i + 3, j:j + 3] * w[o, 0]) + b[o]
    r = np.maximum(c, 0)
    p = r.reshape(4, 3, 2, 3, 2).max(axis=(2, 4))
    h = p.reshape(1, 36) @ g.T.astype(np.float64) + gb
    e = np.exp(h - h.max())
    return (e / e.sum()).astype(np.float32)


def conv(path):
    rng = np.random.default_rng(1)
    wv = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    bv = rng.standard_normal(4).astype(np.float32)
    gv = rng.standard_normal((10, 36)).astype(np.float32)
    gbv = rng.standard_normal(10).astype(np.float32)
    w, b = numpy_helper.from_array(wv, "w"), numpy_helper.from_array(bv, "b")
    g, gb = numpy_helper.from_array(gv, "g"), numpy_helper.from_array(gbv, "gb")
    x = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    refs(path, x=x, y=conv_ref(x, wv, bv, gv, gbv))
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[0, 0, 0, 0]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "g", "gb"], ["h"], transB=1),
        helper.make_node("Softmax", ["h"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [w, b, g, gb])
    save(graph, path)


def two(path):
    w = numpy_helper.from_array(np.ones((2, 4), np.float32), "w")
    nodes = [
        helper.make_node("MatMul", ["a", "b"], ["prod"]),
        helper.make_node("Add", ["prod", "c"], ["s0"]),
        helper.make_node("Add", ["s0", "w"], ["sum"]),
    ]
    graph = helper.make_graph(
        nodes, "two",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [3, 4]),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, [2, 4]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("prod", TensorProto.FLOAT, [2, 4]),
         helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 4])],
        [w])
    save(graph, path)
    rng = np.random.default_rng(2)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (3, 4), (2, 4)))
    prod = a @ b
    refs(path, a=a, b=b, c=c, prod=prod, sum=prod + c + 1)


def ids(path):
    graph = helper.make_graph(
        [helper.make_node("Cast", ["ids"], ["out"], to=TensorProto.FLOAT)], "ids",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 4])])
    save(graph, path)
    ids = np.arange(-6, 6, dtype=np.int64).reshape(3, 4) * 1000
    refs(path, ids=ids, out=ids.astype(np.float32))


def add(path):
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["z"])], "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, "n"])])
    save(graph, path)


SSD_ROWS = 4


def ssd(path):
    pick = numpy_helper.from_array(np.array([1, 0, 0], np.float32).reshape(1, 3, 1, 1), "pick")
    diag = np.diag([1, 1] + [1 / 255] * 5).astype(np.float32)
    d = numpy_helper.from_array(diag, "d")
    nodes = [
        helper.make_node("Conv", ["x", "pick"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("MatMul", ["c", "d"], ["det"]),
    ]
    graph = helper.make_graph(
        nodes, "ssd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, SSD_ROWS, 7])],
        [helper.make_tensor_value_info("det", TensorProto.FLOAT, [1, 1, SSD_ROWS, 7])],
        [pick, d])
    save(graph, path)
    meta = ("format = onnx\nmodel = ssd.onnx\nlabels = ssd.labels\n"
            f"input_size = 7 {SSD_ROWS}\noutput = ssd\n")
    with open(os.path.join(os.path.dirname(path), "ssd.meta"), "w") as f:
        f.write(meta)
    with open(os.path.join(os.path.dirname(path), "ssd.labels"), "w") as f:
        f.write("background\ncat\ndog\n")


def main(out):
    os.makedirs(out, exist_ok=True)
    conv(os.path.join(out, "conv.onnx"))
    two(os.path.join(out, "two.onnx"))
    ids(os.path.join(out, "ids.onnx"))
    add(os.path.join(out, "add.onnx"))
    ssd(os.path.join(out, "ssd.onnx"))


if __name__ == "__main__":
    main(sys.argv[1])

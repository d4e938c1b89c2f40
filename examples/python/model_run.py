#!/usr/bin/env python3
"""Runs an ONNX model on NumPy arrays, in-process or through the agent
(whichever the configuration says: VMACCEL_REMOTE, VMACCEL_CONFIG), and
prints each output's shape and first values.  Inputs are .npy files given
as NAME=FILE; without any, zeros of the model's declared shapes (an open
dimension taken as 1).

    PYTHONPATH=build/python VMACCEL_PLUGIN_DIR=build/plugins \\
        python3 examples/python/model_run.py ../shared/models/squeezenet1.0/model.onnx
"""
import sys

import numpy as np

import vmaccel


def main(path, *inputs):
    with vmaccel.Context() as ctx, ctx.session() as s, ctx.model(path) as model:
        s.register(model)
        declared, _ = model.info()
        if inputs:
            feed = {name: np.load(file) for name, file in (a.split("=", 1) for a in inputs)}
        else:
            feed = {i.name: np.zeros([d or 1 for d in i.shape], i.dtype or "float32")
                    for i in declared}
        for name, out in s.model_run(model, feed).items():
            print(f"{name}: {out.dtype} {out.shape} {out.ravel()[:6]}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except vmaccel.VmaccelError as e:
        sys.exit(f"model_run.py: {e}")

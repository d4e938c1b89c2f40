#!/usr/bin/env python3
"""Classifies images with a model bundle, in-process or through the agent
(whichever the configuration says: VMACCEL_REMOTE, VMACCEL_CONFIG).

    PYTHONPATH=build/python VMACCEL_PLUGIN_DIR=build/plugins \\
        python3 examples/python/classify.py models/squeezenet1.0.meta ../shared/images/*.png
"""
import sys

import vmaccel


def main(meta, *images):
    with vmaccel.Context() as ctx, ctx.session() as s, ctx.model(meta) as model:
        s.register(model)
        for path in images:
            with open(path, "rb") as f:
                best = s.classify(model, f.read(), k=1)[0]
            print(f"{path}: {best.label} ({best.score:.3f})")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except vmaccel.VmaccelError as e:
        sys.exit(f"classify.py: {e}")

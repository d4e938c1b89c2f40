#!/usr/bin/env python3
"""Finds objects in images with a detector (a cascade or an SSD bundle:
docs/models.md, "Detection"), in-process or through the agent.

    PYTHONPATH=build/python VMACCEL_PLUGIN_DIR=build/plugins \\
        python3 examples/python/detect.py models/face.meta tests/data/messi5.jpg
"""
import sys

import vmaccel


def main(model_path, *images):
    with vmaccel.Context() as ctx, ctx.session() as s, ctx.model(model_path) as model:
        s.register(model)
        for path in images:
            with open(path, "rb") as f:
                boxes = s.detect(model, f.read(), threshold=0.5)
            print(f"{path}: {len(boxes)} found")
            for b in boxes:
                print(f"  {b.label} {b.score:.2f} at {b.x:.0f},{b.y:.0f} {b.w:.0f}x{b.h:.0f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except vmaccel.VmaccelError as e:
        sys.exit(f"detect.py: {e}")

#!/usr/bin/env python3
"""bench/python.py [BUILD]: what the Python binding costs over C, side by
side in alternating blocks (this host's speed drifts within seconds), each
block a fresh process of either language doing the same (an idle OpenCV
thread pool in a process kept alive would slow the other side):

  noop, in-process: bench-loop (C) vs Session.noop() in a loop, us per call
  classify, in-process, coffee.png: bench-loop (C) vs Session.classify(),
  median us per call; the ratio Python / C (target <= 1.02)

    PYTHONPATH=build/python /usr/bin/python3 bench/python.py build
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import vmaccel

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = os.path.join(SRC, "models", "squeezenet1.0.meta")
IMAGE = os.path.join(SRC, "..", "shared", "images", "coffee.png")
NOOPS, IMAGES, BLOCKS = 200000, 20, 10


def c_side(conf, *args):
    env = dict(os.environ, VMACCEL_CONFIG=conf)
    out = subprocess.run([f"{BUILD}/bench/bench-loop", *args], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip())


def py_side(conf, what):
    """This script again, as the Python side of one block."""
    env = dict(os.environ, VMACCEL_CONFIG=conf)
    out = subprocess.run([sys.executable, __file__, BUILD, what], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip())


def py_noop(s):
    t0 = time.perf_counter()
    for _ in range(NOOPS):
        s.noop()
    return (time.perf_counter() - t0) * 1e6 / NOOPS


def py_classify(s, m, image):
    for _ in range(5):  # warm, as bench-loop
        s.classify(m, image, k=5)
    t = []
    for _ in range(IMAGES):
        t0 = time.perf_counter()
        s.classify(m, image, k=5)
        t.append(time.perf_counter() - t0)
    return statistics.median(t) * 1e6


def one_side(what):
    with vmaccel.Context() as ctx, ctx.session() as s:
        if what == "noop":
            return py_noop(s)
        with open(IMAGE, "rb") as f, ctx.model(META) as m:
            s.register(m)
            return py_classify(s, m, f.read())


def main():
    tmp = tempfile.mkdtemp()
    conf = os.path.join(tmp, "c.conf")
    with open(conf, "w") as f:
        f.write(f"plugin_dir = {BUILD}/plugins\nplugins = noop, opencv\n")
    rows = {"noop": ([], []), "classify": ([], [])}
    for _ in range(BLOCKS):
        rows["noop"][0].append(c_side(conf, "noop", str(NOOPS)))
        rows["noop"][1].append(py_side(conf, "noop"))
        rows["classify"][0].append(c_side(conf, "classify", META, IMAGE, str(IMAGES)))
        rows["classify"][1].append(py_side(conf, "classify"))
    print(f"in-process, {BLOCKS} alternating blocks of fresh processes; median of the blocks\n")
    print("| call | C us | Python us | Python / C | per block, min-max |\n|---|---|---|---|---|")
    for name, (c, py) in rows.items():
        c_m, py_m = statistics.median(c), statistics.median(py)
        pairs = [p / q for p, q in zip(py, c)]
        print(f"| {name} | {c_m:.3f} | {py_m:.3f} | {py_m / c_m:.3f} | "
              f"{min(pairs):.3f}-{max(pairs):.3f} |")


if __name__ == "__main__":
    if len(sys.argv) > 2:  # one block's Python side
        print(one_side(sys.argv[2]))
    else:
        main()

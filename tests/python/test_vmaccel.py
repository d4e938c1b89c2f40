"""The Python binding (python/vmaccel) in-process and through a vmacceld:
every result checked against an independent one (hashlib, NumPy, the C
tests' known classification), and errors as VmaccelError."""
import hashlib
import os
import signal
import subprocess
import tempfile
import time
import unittest

import numpy as np

import vmaccel

BUILD = os.environ.get("VMACCEL_TEST_BUILD", "build")
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
META = os.path.join(SRC, "models", "squeezenet1.0.meta")
IMAGES = os.path.join(SRC, "..", "shared", "images")
PLUGINS = "noop, openssl, blas, opencv"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class Agent:
    """A vmacceld on a unix socket in tmp, with the standard plugins."""

    def __init__(self, tmp):
        self.sock = os.path.join(tmp, "agent.sock")
        conf = write(os.path.join(tmp, "agent.conf"),
                     f"plugin_dir = {BUILD}/plugins\nplugins = {PLUGINS}\n")
        self.log = open(os.path.join(tmp, "agent.log"), "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VMACCEL_")}
        self.proc = subprocess.Popen([f"{BUILD}/agent/vmacceld", "--config", conf,
                                      "--listen", f"unix://{self.sock}"],
                                     stderr=self.log, env=env)
        for _ in range(900):  # 90 s: a cold start may build caches
            if os.path.exists(self.sock):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.proc.kill()  # never left running behind a failed start
        self.proc.wait()
        raise RuntimeError(f"vmacceld did not come up: see {self.log.name}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()


class Binding:
    """The checks, on whatever context self.conf makes."""

    def test_sha256_equals_hashlib(self):
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s:
            for data in (b"", b"abc", bytearray(os.urandom(100000)), memoryview(b"xyz")):
                self.assertEqual(s.sha256(data), hashlib.sha256(bytes(data)).digest())
            s.noop()

    def test_aes_gcm_round_trip_and_a_tampered_tag(self):
        key, iv, text = os.urandom(32), os.urandom(12), os.urandom(5000)
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s:
            ct, tag = s.aes_gcm_encrypt(key, iv, text, aad=b"header")
            self.assertNotEqual(ct, text)
            self.assertEqual(s.aes_gcm_decrypt(key, iv, ct, tag, aad=b"header"), text)
            bad = bytes([tag[0] ^ 1]) + tag[1:]
            with self.assertRaises(vmaccel.VmaccelError) as e:
                s.aes_gcm_decrypt(key, iv, ct, bad, aad=b"header")
            self.assertEqual(e.exception.name, "EBADMSG")
            with self.assertRaises(ValueError):
                s.aes_gcm_encrypt(key[:16], iv, text)

    def test_sgemm_equals_numpy_into_new_and_given_arrays(self):
        rng = np.random.default_rng(7)
        a = rng.standard_normal((65, 33), dtype=np.float32)
        b = rng.standard_normal((33, 17), dtype=np.float32)
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s:
            c = s.sgemm(a, b)
            np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)
            c0 = rng.standard_normal((65, 17), dtype=np.float32)
            c1 = c0.copy()
            out = s.sgemm(a, b, alpha=2.0, beta=0.5, c=c1)
            self.assertIs(out, c1)  # written in place
            np.testing.assert_allclose(c1, 2 * (a @ b) + 0.5 * c0, rtol=1e-4, atol=1e-4)
            with self.assertRaises(ValueError):
                s.sgemm(a.astype(np.float64), b)
            with self.assertRaises(ValueError):
                s.sgemm(a, a)  # 65x33 @ 65x33

    def test_classify_coffee_is_espresso(self):
        with open(os.path.join(IMAGES, "coffee.png"), "rb") as f:
            image = f.read()
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s, ctx.model(META) as m:
            with self.assertRaises(vmaccel.VmaccelError):
                s.classify(m, image)  # not registered with the session yet
            s.register(m)
            top = s.classify(m, image, k=3)
            self.assertEqual(len(top), 3)
            self.assertEqual(top[0].label, "n07920052 espresso")
            self.assertGreater(top[0].score, 0.99)
            self.assertGreaterEqual(top[0].score, top[1].score)
            with self.assertRaises(vmaccel.VmaccelError) as e:
                s.classify(m, b"not an image")
            self.assertEqual(e.exception.errno, 22)  # EINVAL

    def test_detect_finds_the_face(self):
        with open(os.path.join(SRC, "tests", "data", "messi5.jpg"), "rb") as f:
            image = f.read()
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s, \
                ctx.model(os.path.join(SRC, "models", "face.meta")) as m:
            s.register(m)
            boxes = s.detect(m, image)
            self.assertEqual(len(boxes), 1)
            b = boxes[0]
            self.assertEqual((b.label, b.class_id, b.score), ("face", 0, 1.0))
            self.assertLess(abs(b.x - 226) + abs(b.y - 94) + abs(b.w - 37), 12)
            with self.assertRaises(ValueError):
                s.detect(m, image, max_boxes=0)
            with self.assertRaises(vmaccel.VmaccelError) as e:
                s.detect(m, image, threshold=2)
            self.assertEqual(e.exception.name, "EINVAL")

    def test_model_run_equals_numpy(self):
        models = os.path.join(self.tmp.name, "onnx")
        subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "models", "gen_onnx.py"),
                        models], check=True)

        def ref(name):
            return np.load(os.path.join(models, name + ".npy"))
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s:
            with ctx.model(os.path.join(models, "two.onnx")) as m:
                s.register(m)
                ins, outs = m.info()
                self.assertEqual([i.name for i in ins], ["a", "b", "c"])
                self.assertEqual(outs[1], vmaccel.TensorInfo("sum", "float32", (2, 4)))
                got = s.model_run(m, {"c": ref("two.c"), "a": ref("two.a"),
                                      "b": ref("two.b")})
                np.testing.assert_allclose(got["sum"], ref("two.sum"), rtol=1e-5, atol=1e-5)
                np.testing.assert_allclose(got["prod"], ref("two.prod"), rtol=1e-5, atol=1e-5)
                got = s.model_run(m, [ref("two.a"), ref("two.b"), ref("two.c")], ["prod"])
                self.assertEqual(list(got), ["prod"])
                with self.assertRaises(vmaccel.VmaccelError) as e:
                    s.model_run(m, [ref("two.b"), ref("two.a"), ref("two.c")])  # shapes swapped
                self.assertEqual(e.exception.name, "EINVAL")
            with ctx.model(os.path.join(models, "ids.onnx")) as m:
                s.register(m)  # an open batch dimension: the library allocates
                got = s.model_run(m, {"ids": ref("ids.ids")})["out"]
                self.assertEqual(got.dtype, np.float32)
                np.testing.assert_array_equal(got, ref("ids.out"))
                with self.assertRaises(vmaccel.VmaccelError) as e:
                    s.model_run(m, [np.full((1, 4), 1 << 40, dtype=np.int64)])
                self.assertEqual(e.exception.name, "ERANGE")

    def test_a_context_outlives_its_sessions_and_models(self):
        ctx = vmaccel.Context(self.conf)
        s, m = ctx.session(), ctx.model(META)
        with self.assertRaises(RuntimeError):
            ctx.close()  # the C library would free what s and m still use
        s.close()
        with self.assertRaises(RuntimeError):
            ctx.close()
        m.close()
        m.close()  # twice: nothing
        with self.assertRaises(vmaccel.VmaccelError) as e:
            s.noop()  # closed: NULL to C, which says EINVAL
        self.assertEqual(e.exception.name, "EINVAL")
        ctx.close()
        with self.assertRaises(ValueError):
            ctx.session()
        with self.assertRaises(vmaccel.VmaccelError):
            ctx2 = vmaccel.Context(self.conf)
            try:
                ctx2.model("/nonexistent.meta")  # a failed child is not counted
            finally:
                ctx2.close()

    def test_strided_buffers_are_copied_once(self):
        import numpy as np
        a = np.arange(100, dtype=np.uint8)[::2]  # not contiguous
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s:
            self.assertEqual(s.sha256(a), hashlib.sha256(a.tobytes()).digest())

    def test_errors_carry_the_errno_name(self):
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s:
            with self.assertRaises(vmaccel.VmaccelError) as e:
                ctx.model(os.path.join(SRC, "no-such.meta"))
            self.assertIn(e.exception.name, ("ENOENT", "EINVAL"))
            self.assertIsInstance(e.exception, OSError)
        with self.assertRaises(vmaccel.VmaccelError) as e:
            vmaccel.Context(os.path.join(SRC, "no-such.conf"))
        self.assertTrue(vmaccel.library_version())


class InProcess(Binding, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.conf = write(os.path.join(cls.tmp.name, "c.conf"),
                         f"plugin_dir = {BUILD}/plugins\nplugins = {PLUGINS}\n")

    def run_example(self, script, *args):
        env = dict(os.environ, VMACCEL_CONFIG=self.conf)
        path = os.path.join(SRC, "examples", "python", script)
        return subprocess.run(["/usr/bin/python3", path, *args], env=env, capture_output=True,
                              text=True, check=True).stdout

    def test_the_examples_run(self):
        out = self.run_example("classify.py", META, os.path.join(IMAGES, "coffee.png"))
        self.assertIn("n07920052 espresso", out)
        model = os.path.join(SRC, "..", "shared", "models", "squeezenet1.0", "model.onnx")
        out = self.run_example("model_run.py", model)
        self.assertTrue(out.startswith("logits: float32 (1, 1000) ["), out)
        out = self.run_example("detect.py", os.path.join(SRC, "models", "face.meta"),
                               os.path.join(SRC, "tests", "data", "messi5.jpg"))
        self.assertIn("1 found\n  face 1.00 at 226,94 37x37", out)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()


class ThroughTheAgent(Binding, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.agent = Agent(cls.tmp.name)  # stops its process itself if it fails
        cls.conf = write(os.path.join(cls.tmp.name, "c.conf"),
                         f"plugin_dir = {BUILD}/plugins\nplugins = remote\n"
                         f"remote = unix://{cls.agent.sock}\n")

    def test_calls_go_through_the_agent(self):
        with vmaccel.Context(self.conf) as ctx, ctx.session() as s:
            s.noop()
        with open(self.agent.log.name) as f:
            self.assertIn("open conn=", f.read())

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.tmp.cleanup()


if __name__ == "__main__":
    unittest.main()

"""Context, Session, Model and the operations (docs/python.md)."""
import ctypes
import os
from typing import NamedTuple

from ._lib import (DETECT_MAX, IO_MAX, LIB, RANK_MAX, TENSOR_OWNED, BoxStruct, ClassStruct,
                   CtxOpts, TensorInfoStruct, TensorStruct)

RESOURCE_MODEL = 2  # vmaccel_resource_type (resource.h)


class VmaccelError(OSError):
    """A vmaccel call failed: .errno is the positive errno, .name its symbol
    ("ENOTSUP"), str() what vmaccel_strerror says."""

    def __init__(self, err, what):
        self.name = LIB.vmaccel_err_name(err).decode()
        super().__init__(-err, f"{what}: {LIB.vmaccel_strerror(err).decode()} ({self.name})")


def _check(r, what):
    if r < 0:
        raise VmaccelError(r, what)
    return r


def _buffer(data, what):
    """(pointer, length, keep-alive) of a bytes-like object, not copied when
    it is contiguous and writable (bytearray, NumPy arrays, memoryview)."""
    mv = memoryview(data)
    if not mv.contiguous:  # e.g. a strided NumPy view: copied once
        mv = memoryview(mv.tobytes())
    mv = mv.cast("B")
    if mv.readonly:  # bytes: ctypes gives its address without a copy
        b = mv.tobytes() if not isinstance(data, bytes) else data
        return ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p), len(b), b
    arr = (ctypes.c_char * len(mv)).from_buffer(mv)
    return ctypes.addressof(arr), len(mv), (mv, arr)


def library_version():
    """The version of the libvmaccel in use, e.g. "0.1.0"."""
    return LIB.vmaccel_version_string().decode()


# vmaccel_dtype (tensor.h) <-> NumPy's dtype names.
_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
           7: "int64", 9: "bool", 10: "float16", 11: "float64"}
_DTYPE_OF = {v: k for k, v in _DTYPES.items()}


class TensorInfo(NamedTuple):
    """A model's input or output as the model declares it: shape entries of
    None are any size; dtype a NumPy dtype name, or None when unsaid."""
    name: str
    dtype: str
    shape: tuple


class Class(NamedTuple):
    """One answer of a classification."""
    class_id: int
    score: float
    label: str


class Box(NamedTuple):
    """One object found: its box in pixels of the image (top-left corner,
    width, height), its class and label, and a score in 0..1."""
    x: float
    y: float
    w: float
    h: float
    class_id: int
    score: float
    label: str


class Context:
    """A vmaccel context: the plugins the configuration names (config: a
    file path; None: $VMACCEL_CONFIG).  Close it, or use `with`."""

    def __init__(self, config=None):
        opts = CtxOpts(ctypes.sizeof(CtxOpts), os.fsencode(config) if config else None)
        h = ctypes.c_void_p()
        _check(LIB.vmaccel_ctx_new(ctypes.byref(opts), ctypes.byref(h)), "vmaccel_ctx_new")
        self._h = h
        self._children = 0  # open sessions and models: they need the context

    def session(self):
        return Session(self)

    def model(self, path):
        """A model as a resource of this context: a bundle (its .meta file or
        directory) or an ONNX file."""
        return Model(self, path)

    def close(self):
        """Frees the context; its sessions and models must be closed first
        (the C library would free what they still use)."""
        if self._children:
            raise RuntimeError(f"vmaccel.Context.close: {self._children} sessions or models "
                               "of this context are still open; close them first")
        if self._h:
            LIB.vmaccel_ctx_free(self._h)
            self._h = None

    def _handle(self):
        if not self._h:
            raise ValueError("the context is closed")
        return self._h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Child:
    """A session or model: holds its context open until it is closed."""

    def _made(self, h):
        self._h = h
        self._ctx._children += 1

    def _release(self, free):
        if self._h:
            free(self._h)
            self._h = None
            self._ctx._children -= 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Model(_Child):
    """A model resource (vmaccel_resource_from_path); close it or use `with`."""

    def __init__(self, ctx, path):
        h = ctypes.c_void_p()
        self._h, self._ctx = None, ctx
        _check(LIB.vmaccel_resource_from_path(ctx._handle(), RESOURCE_MODEL, os.fsencode(path),
                                              ctypes.byref(h)), f"loading {path}")
        self._made(h)

    def close(self):
        self._release(LIB.vmaccel_resource_unref)

    def info(self):
        """(inputs, outputs) of an ONNX model, as lists of TensorInfo, read
        from the model's bytes in this process (vmaccel_model_info)."""
        ins, outs = (TensorInfoStruct * IO_MAX)(), (TensorInfoStruct * IO_MAX)()
        n_in, n_out = ctypes.c_uint32(), ctypes.c_uint32()
        _check(LIB.vmaccel_model_info(self._h, ins, IO_MAX, ctypes.byref(n_in), outs, IO_MAX,
                                      ctypes.byref(n_out)), "vmaccel_model_info")
        return ([_info(t) for t in ins[:n_in.value]], [_info(t) for t in outs[:n_out.value]])


class Session(_Child):
    """A session: the unit calls and registered models belong to.  Calls
    on a closed session fail with EINVAL; do not close one while another
    thread is calling on it (as in C)."""

    def __init__(self, ctx):
        h = ctypes.c_void_p()
        self._h, self._ctx = None, ctx
        _check(LIB.vmaccel_session_new(ctx._handle(), ctypes.byref(h)), "vmaccel_session_new")
        self._made(h)

    def close(self):
        self._release(LIB.vmaccel_session_free)

    def register(self, model):
        _check(LIB.vmaccel_session_register(self._h, model._h), "vmaccel_session_register")

    def noop(self):
        _check(LIB.vmaccel_noop(self._h), "vmaccel_noop")

    def sha256(self, data):
        p, n, keep = _buffer(data, "sha256")
        out = ctypes.create_string_buffer(32)
        _check(LIB.vmaccel_sha256(self._h, p, n, out), "vmaccel_sha256")
        del keep
        return out.raw

    def aes_gcm_encrypt(self, key, iv, plaintext, aad=b""):
        """(ciphertext, tag): key 32 bytes, iv 12."""
        _sizes(key, iv)
        p, n, k1 = _buffer(plaintext, "plaintext")
        a, an, k2 = _buffer(aad, "aad")
        out, tag = ctypes.create_string_buffer(max(n, 1)), ctypes.create_string_buffer(16)
        _check(LIB.vmaccel_aes_gcm_encrypt(self._h, bytes(key), bytes(iv), a if an else None,
                                           an, p, n, out, tag), "vmaccel_aes_gcm_encrypt")
        del k1, k2
        return out.raw[:n], tag.raw

    def aes_gcm_decrypt(self, key, iv, ciphertext, tag, aad=b""):
        """The plaintext; VmaccelError EBADMSG when the tag does not match."""
        _sizes(key, iv)
        if len(tag) != 16:
            raise ValueError("tag: 16 bytes")
        p, n, k1 = _buffer(ciphertext, "ciphertext")
        a, an, k2 = _buffer(aad, "aad")
        out = ctypes.create_string_buffer(max(n, 1))
        _check(LIB.vmaccel_aes_gcm_decrypt(self._h, bytes(key), bytes(iv), a if an else None,
                                           an, p, n, out, bytes(tag)), "vmaccel_aes_gcm_decrypt")
        del k1, k2
        return out.raw[:n]

    def sgemm(self, a, b, alpha=1.0, beta=0.0, c=None):
        """alpha * a @ b + beta * c for 2-D float32 NumPy arrays (C order),
        into c when given (it must be float32, C-contiguous and writable),
        else into a new array.  Nothing is copied on the way in or out."""
        import numpy as np
        a, b = _f32(np, a, "a"), _f32(np, b, "b")
        m, k = a.shape
        if b.shape[0] != k:
            raise ValueError(f"sgemm: a is {a.shape}, b is {b.shape}")
        n = b.shape[1]
        if c is None:
            if beta != 0:
                raise ValueError("sgemm: beta != 0 needs c")
            c = np.empty((m, n), dtype=np.float32)
        elif (c.dtype != np.float32 or c.shape != (m, n) or not c.flags.c_contiguous or
              not c.flags.writeable):
            raise ValueError(f"sgemm: c must be a writable C-order float32 array of {(m, n)}")
        _check(LIB.vmaccel_sgemm(self._h, m, n, k, alpha, a.ctypes.data, b.ctypes.data, beta,
                                 c.ctypes.data), "vmaccel_sgemm")
        return c

    def classify(self, model, image, k=5):
        """The top k classes of an encoded image (PNG, JPEG, ...) as Class
        tuples, best first; the model must be registered with the session."""
        p, n, keep = _buffer(image, "image")
        top = (ClassStruct * k)()
        got = ctypes.c_uint32()
        _check(LIB.vmaccel_image_classify(self._h, model._h, p, n, top, k, ctypes.byref(got)),
               "vmaccel_image_classify")
        del keep
        return [Class(t.class_id, t.score, t.label.decode(errors="replace"))
                for t in top[:got.value]]


    def detect(self, model, image, threshold=0.5, max_boxes=100):
        """The objects a detector (a cascade or an SSD bundle: docs/models.md)
        finds in an encoded image, as Box tuples, best first: at most
        max_boxes (1..1024) scoring at least threshold (0..1)."""
        if not 1 <= max_boxes <= DETECT_MAX:
            raise ValueError(f"detect: max_boxes must be in [1, {DETECT_MAX}]")
        p, n, keep = _buffer(image, "image")
        boxes = (BoxStruct * max_boxes)()
        got = ctypes.c_uint32()
        _check(LIB.vmaccel_image_detect(self._h, model._h, p, n, threshold, boxes, max_boxes,
                                        ctypes.byref(got)), "vmaccel_image_detect")
        del keep
        return [Box(b.x, b.y, b.w, b.h, b.class_id, b.score, b.label.decode(errors="replace"))
                for b in boxes[:got.value]]

    def model_run(self, model, inputs, outputs=None):
        """Runs an ONNX model (registered with this session) on NumPy arrays.
        inputs: {name: array} or [array, ...] in the model's input order;
        outputs: the names wanted (default: all the model's).  Returns
        {name: array}.  Inputs in C order and of the model's dtype are not
        copied; outputs whose shape the model fixes are written straight
        into their arrays."""
        import numpy as np
        declared = model.info()[1]
        names = [o.name for o in declared] if outputs is None else list(outputs)
        items = inputs.items() if isinstance(inputs, dict) else [(None, a) for a in inputs]
        ins, keep = _tensors_in(np, items)
        outs = (TensorStruct * max(len(names), 1))()
        arrays = {}
        for i, name in enumerate(names):
            outs[i].name = name.encode()
            fixed = _fixed(np, declared, name)
            if fixed is not None:  # the library writes into it: no copy
                arrays[name] = fixed
                outs[i].data, outs[i].len = fixed.ctypes.data, fixed.nbytes
        try:
            _check(LIB.vmaccel_model_run(self._h, model._h, ins, len(items), outs, len(names)),
                   "vmaccel_model_run")
            return {name: _array_out(np, outs[i], arrays.get(name))
                    for i, name in enumerate(names)}
        finally:
            LIB.vmaccel_tensor_free(outs, len(names))
            del keep


def _info(t):
    return TensorInfo(t.name.decode(errors="replace"), _DTYPES.get(t.dtype),
                      tuple(None if d < 0 else d for d in t.shape[:t.rank]))


def _tensors_in(np, items):
    if len(items) > IO_MAX:
        raise ValueError(f"model_run: at most {IO_MAX} inputs")
    ins, keep = (TensorStruct * max(len(items), 1))(), []
    for i, (name, a) in enumerate(items):
        a = np.ascontiguousarray(a)  # copied only when not in C order already
        if a.dtype.name not in _DTYPE_OF or a.ndim > RANK_MAX:
            raise ValueError(f"model_run: input {name or i}: dtype {a.dtype} or rank {a.ndim} "
                             "not supported")
        keep.append(a)
        ins[i].name = name.encode() if name else None
        ins[i].dtype, ins[i].rank = _DTYPE_OF[a.dtype.name], a.ndim
        for d, n in enumerate(a.shape):
            ins[i].shape[d] = n
        ins[i].data, ins[i].len = a.ctypes.data, a.nbytes
    return ins, keep


def _fixed(np, declared, name):
    """An empty array for output `name` when the model fixes its dtype and
    every dimension, else None."""
    for o in declared:
        if o.name == name and o.dtype and all(d is not None for d in o.shape):
            return np.empty(o.shape, dtype=o.dtype)
    return None


def _array_out(np, t, arr):
    shape = tuple(t.shape[:t.rank])
    dtype = _DTYPES.get(t.dtype)
    if dtype is None:
        raise VmaccelError(-5, "vmaccel_model_run: an output of unknown dtype")  # EIO
    if arr is not None and arr.dtype.name == dtype and arr.nbytes == t.len:
        return arr.reshape(shape)
    if not t.len:
        return np.zeros(shape, dtype=dtype)
    raw = ctypes.string_at(t.data, t.len)  # the library's memory, freed after this
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _sizes(key, iv):
    if len(key) != 32 or len(iv) != 12:
        raise ValueError("AES-GCM: key 32 bytes, iv 12 bytes")


def _f32(np, x, what):
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError(f"sgemm: {what} must be a 2-D NumPy array")
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        raise ValueError(f"sgemm: {what} must be float32 in C order (np.ascontiguousarray"
                         f"({what}, dtype=np.float32))")
    return x

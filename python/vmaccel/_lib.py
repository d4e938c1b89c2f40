"""Loads libvmaccel and declares the C functions this package calls.

The library is found where meson put it (_paths.LIBRARY: the build tree's,
or the installed one), or as VMACCEL_LIBRARY says.  Every declaration
mirrors include/vmaccel/*.h; a mismatch would be memory corruption, so
tests/python checks each call against the C library's own results.
"""
import ctypes
import os

from . import _paths

LABEL_MAX = 128


class ClassStruct(ctypes.Structure):
    """vmaccel_class (ops.h)."""
    _fields_ = [("class_id", ctypes.c_uint32), ("score", ctypes.c_float),
                ("label", ctypes.c_char * LABEL_MAX)]


class BoxStruct(ctypes.Structure):
    """vmaccel_box (ops.h)."""
    _fields_ = [("x", ctypes.c_float), ("y", ctypes.c_float), ("w", ctypes.c_float),
                ("h", ctypes.c_float), ("class_id", ctypes.c_uint32), ("score", ctypes.c_float),
                ("label", ctypes.c_char * LABEL_MAX)]


DETECT_MAX = 1024    # VMACCEL_DETECT_MAX (ops.h)
RANK_MAX = 8         # VMACCEL_TENSOR_RANK_MAX (tensor.h)
NAME_MAX = 128       # VMACCEL_TENSOR_NAME_MAX
IO_MAX = 64          # VMACCEL_MODEL_IO_MAX
TENSOR_OWNED = 1     # VMACCEL_TENSOR_OWNED


class TensorStruct(ctypes.Structure):
    """vmaccel_tensor (tensor.h)."""
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_uint32),
                ("rank", ctypes.c_uint32), ("shape", ctypes.c_int64 * RANK_MAX),
                ("data", ctypes.c_void_p), ("len", ctypes.c_size_t),
                ("flags", ctypes.c_uint32)]


class TensorInfoStruct(ctypes.Structure):
    """vmaccel_tensor_info (tensor.h)."""
    _fields_ = [("name", ctypes.c_char * NAME_MAX), ("dtype", ctypes.c_uint32),
                ("rank", ctypes.c_uint32), ("shape", ctypes.c_int64 * RANK_MAX)]


class CtxOpts(ctypes.Structure):
    """vmaccel_ctx_opts (core.h)."""
    _fields_ = [("size", ctypes.c_uint32), ("config_path", ctypes.c_char_p),
                ("log_fn", ctypes.c_void_p), ("log_userdata", ctypes.c_void_p),
                ("config_defaults", ctypes.c_void_p)]


def _load():
    path = os.environ.get("VMACCEL_LIBRARY") or _paths.LIBRARY
    lib = ctypes.CDLL(path)
    p, i, u32, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_size_t
    f32, cp, pp = ctypes.c_float, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "vmaccel_ctx_new": (i, [ctypes.POINTER(CtxOpts), pp]),
        "vmaccel_ctx_free": (None, [p]),
        "vmaccel_session_new": (i, [p, pp]),
        "vmaccel_session_free": (None, [p]),
        "vmaccel_session_register": (i, [p, p]),
        "vmaccel_resource_from_path": (i, [p, i, cp, pp]),
        "vmaccel_resource_unref": (p, [p]),
        "vmaccel_strerror": (cp, [i]),
        "vmaccel_err_name": (cp, [i]),
        "vmaccel_version_string": (cp, []),
        "vmaccel_noop": (i, [p]),
        "vmaccel_sha256": (i, [p, p, sz, p]),
        "vmaccel_aes_gcm_encrypt": (i, [p, p, p, p, sz, p, sz, p, p]),
        "vmaccel_aes_gcm_decrypt": (i, [p, p, p, p, sz, p, sz, p, p]),
        "vmaccel_sgemm": (i, [p, u32, u32, u32, f32, p, p, f32, p]),
        "vmaccel_image_classify": (i, [p, p, p, sz, ctypes.POINTER(ClassStruct), u32,
                                       ctypes.POINTER(u32)]),
        "vmaccel_image_detect": (i, [p, p, p, sz, f32, ctypes.POINTER(BoxStruct), u32,
                                     ctypes.POINTER(u32)]),
        "vmaccel_model_info": (i, [p, ctypes.POINTER(TensorInfoStruct), u32,
                                   ctypes.POINTER(u32), ctypes.POINTER(TensorInfoStruct), u32,
                                   ctypes.POINTER(u32)]),
        "vmaccel_model_run": (i, [p, p, ctypes.POINTER(TensorStruct), u32,
                                  ctypes.POINTER(TensorStruct), u32]),
        "vmaccel_tensor_free": (None, [ctypes.POINTER(TensorStruct), u32]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


LIB = _load()

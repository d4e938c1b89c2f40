"""vmaccel from Python: ctypes over libvmaccel, no compiled extension.

    import vmaccel
    with vmaccel.Context() as ctx, ctx.session() as s:
        print(s.sha256(b"hello").hex())

The same code runs in-process or, in a VM, through the agent: which one is
the configuration's business (VMACCEL_REMOTE, docs/api.md), not the code's.
docs/python.md describes the API.
"""
from ._core import Context, Model, Session, VmaccelError, library_version
from ._core import Box, Class, TensorInfo

__all__ = ["Context", "Session", "Model", "Box", "Class", "TensorInfo", "VmaccelError",
           "library_version"]

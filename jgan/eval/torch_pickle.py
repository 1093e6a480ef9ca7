"""Minimal, torch-free reader for PyTorch ``torch.save`` checkpoint files.

Reads a saved object (typically a ``state_dict``: an ``OrderedDict`` mapping
names to tensors) into plain Python containers holding **numpy arrays**,
without importing ``torch``.  It exists so that the FID Inception weights
(``pt_inception-2015-12-05-6726825d.pth`` from pytorch-fid) can be loaded in a
JAX-only environment; see :mod:`jgan.eval.inception`.

Supported formats (both are produced by ``torch.save``):

* **zip format** (the default since PyTorch 1.6): a zip archive with a single
  top-level folder ``<name>/`` holding ``data.pkl`` (the pickled object, in
  which every storage is a *persistent id*
  ``("storage", StorageType, key, location, numel)``), the raw little- or
  big-endian bytes of each storage in ``data/<key>``, and optionally a
  ``byteorder`` record (``little`` when absent, as in PyTorch).
* **legacy format** (PyTorch < 1.6, or ``_use_new_zipfile_serialization=False``):
  a stream of pickles ``MAGIC_NUMBER, PROTOCOL_VERSION, sys_info, obj,
  storage_keys`` followed, for each key in ``storage_keys`` order, by an
  int64 element count and the storage's raw bytes.  Persistent ids are
  ``("storage", StorageType, root_key, location, numel, view_metadata)``.

The very old tar-based format (PyTorch < 0.4) is not supported.

Security: unpickling is done with a restricted :class:`pickle.Unpickler`
whose ``find_class`` only resolves an explicit allow-list -- the tensor
rebuild functions ``torch._utils._rebuild_tensor``, ``_rebuild_tensor_v2``,
``_rebuild_tensor_v3``, ``_rebuild_parameter``, the storage classes
(``torch.FloatStorage`` ... ``torch.UntypedStorage``), ``torch`` dtypes (only
needed by ``_rebuild_tensor_v3``) and ``collections.OrderedDict`` -- each
mapped to a local stand-in; any other global raises :class:`TorchPickleError`
before anything is called.  Tensor views are gathered with bounds-checked
numpy indexing, so a malformed offset/stride cannot read outside a storage.

Semantics: every tensor becomes a new, C-contiguous numpy array holding the
values of the tensor *view* (storage offset, sizes and strides applied), so
two tensors that shared one storage in PyTorch come back as independent
copies.  ``nn.Parameter`` objects become plain arrays (``requires_grad`` and
backward hooks are dropped).  ``torch.bfloat16`` and the float8 types map to
their ``ml_dtypes`` equivalents (ml_dtypes is a dependency of jax).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import zipfile
from typing import Any

import numpy as np

__all__ = ["TorchPickleError", "load"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch/serialization.py
PROTOCOL_VERSION = 1001  # torch/serialization.py


class TorchPickleError(ValueError):
    """Raised for files this reader cannot (or refuses to) load."""


def _ml_dtype(name: str):
    try:
        import ml_dtypes
    except ImportError:  # pragma: no cover - ml_dtypes ships with jax
        return None
    return np.dtype(getattr(ml_dtypes, name))


# Legacy ``torch.<Name>Storage`` classes and the numpy dtype of their elements
# (torch.storage._dtype_to_storage_type_map).  Quantized storages are omitted.
_STORAGE_DTYPES: dict[str, Any] = {
    "DoubleStorage": np.dtype(np.float64),
    "FloatStorage": np.dtype(np.float32),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
    "ComplexDoubleStorage": np.dtype(np.complex128),
    "ComplexFloatStorage": np.dtype(np.complex64),
    # Untyped byte storage (torch >= 2.0); tensors on it use _rebuild_tensor_v3.
    "UntypedStorage": np.dtype(np.uint8),
}

# ``torch.<dtype>`` globals (only referenced by _rebuild_tensor_v3).
_TORCH_DTYPES: dict[str, Any] = {
    "float64": np.dtype(np.float64),
    "double": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "float": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
    "half": np.dtype(np.float16),
    "bfloat16": "bfloat16",
    "float8_e4m3fn": "float8_e4m3fn",
    "float8_e5m2": "float8_e5m2",
    "int64": np.dtype(np.int64),
    "long": np.dtype(np.int64),
    "int32": np.dtype(np.int32),
    "int": np.dtype(np.int32),
    "int16": np.dtype(np.int16),
    "short": np.dtype(np.int16),
    "int8": np.dtype(np.int8),
    "uint8": np.dtype(np.uint8),
    "uint16": np.dtype(np.uint16),
    "uint32": np.dtype(np.uint32),
    "uint64": np.dtype(np.uint64),
    "bool": np.dtype(np.bool_),
    "complex128": np.dtype(np.complex128),
    "cdouble": np.dtype(np.complex128),
    "complex64": np.dtype(np.complex64),
    "cfloat": np.dtype(np.complex64),
}


def _resolve_dtype(d):
    if isinstance(d, str):  # "bfloat16", "float8_*": provided by ml_dtypes
        dt = _ml_dtype(d)
        if dt is None:  # pragma: no cover
            raise TorchPickleError(f"{d} tensors need the ml_dtypes package")
        return dt
    return d


class _StorageType:
    """Stand-in for a ``torch.<Name>Storage`` class found in the pickle."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _resolve_dtype(_STORAGE_DTYPES[name])

    def __repr__(self):
        return f"torch.{self.name}"


class _DType:
    """Stand-in for a ``torch.<dtype>`` object (``_rebuild_tensor_v3``)."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _resolve_dtype(_TORCH_DTYPES[name])


class _Storage:
    """A flat storage: ``numel`` elements of ``dtype``; bytes may arrive late."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key = key
        self.dtype = dtype
        self.numel = int(numel)
        self.data: np.ndarray | None = None  # 1-D array of `dtype`, length numel

    def set_bytes(self, raw: bytes | memoryview, byteorder: str) -> None:
        nbytes = self.numel * self.dtype.itemsize
        if len(raw) != nbytes:
            raise TorchPickleError(
                f"storage {self.key!r}: expected {nbytes} bytes, found {len(raw)}"
            )
        dt = self.dtype
        if dt.itemsize > 1 and byteorder != sys.byteorder:
            arr = np.frombuffer(raw, dtype=dt).byteswap()
        else:
            arr = np.frombuffer(raw, dtype=dt)
        self.data = arr

    def elements(self) -> np.ndarray:
        if self.data is None:
            raise TorchPickleError(f"storage {self.key!r} has no data in the file")
        return self.data


class _StorageView:
    """Legacy-format storage view: ``size`` elements of ``root`` from ``offset``."""

    def __init__(self, root: _Storage, offset: int, size: int):
        self.root, self.offset, self.size = root, int(offset), int(size)
        self.dtype = root.dtype
        self.key = f"{root.key}[{offset}:{offset + size}]"

    def elements(self) -> np.ndarray:
        data = self.root.elements()
        if self.offset < 0 or self.offset + self.size > data.shape[0]:
            raise TorchPickleError(f"storage view {self.key} out of bounds")
        return data[self.offset : self.offset + self.size]


class _LazyTensor:
    """A tensor view over a storage, materialised once all bytes are read."""

    def __init__(self, storage, offset, size, stride, dtype=None, metadata=None):
        if not isinstance(storage, (_Storage, _StorageView)):
            raise TorchPickleError("tensor rebuild got a non-storage argument")
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)
        if len(self.size) != len(self.stride):
            raise TorchPickleError("tensor size/stride rank mismatch")
        self.dtype = dtype  # None: the storage's dtype
        self.metadata = dict(metadata or {})
        unknown = {k for k, v in self.metadata.items() if v and k not in ("conj", "neg")}
        if unknown:
            raise TorchPickleError(f"unsupported tensor metadata {sorted(unknown)}")

    def materialize(self) -> np.ndarray:
        flat = self.storage.elements()
        if self.dtype is not None and self.dtype != flat.dtype:
            # _rebuild_tensor_v3 over an UntypedStorage (bytes): reinterpret.
            if flat.dtype != np.uint8:
                raise TorchPickleError("dtype reinterpretation of a typed storage")
            usable = (flat.shape[0] // self.dtype.itemsize) * self.dtype.itemsize
            flat = flat[:usable].view(self.dtype)
        n = flat.shape[0]
        size, stride, off = self.size, self.stride, self.offset
        if any(s < 0 for s in size) or any(s < 0 for s in stride) or off < 0:
            raise TorchPickleError("negative size, stride or offset in tensor")
        count = int(np.prod(size, dtype=np.int64)) if size else 1
        if count == 0:
            out = np.empty(size, dtype=flat.dtype)
        else:
            last = off + sum((sz - 1) * st for sz, st in zip(size, stride))
            if last >= n:
                raise TorchPickleError(
                    f"tensor view exceeds its storage ({last} >= {n} elements)"
                )
            contiguous = []
            acc = 1
            for sz in reversed(size):
                contiguous.append(acc)
                acc *= sz
            contiguous = tuple(reversed(contiguous))
            if all(sz == 1 or st == cs for sz, st, cs in zip(size, stride, contiguous)):
                out = flat[off : off + count].reshape(size).copy()
            else:
                idx = np.full((1,) * len(size), off, dtype=np.int64)
                for ax, (sz, st) in enumerate(zip(size, stride)):
                    shape = [1] * len(size)
                    shape[ax] = sz
                    idx = idx + (np.arange(sz, dtype=np.int64) * st).reshape(shape)
                out = flat[idx]  # bounds-checked gather, a new array
        # (both branches above already produce new C-contiguous arrays; note
        # np.ascontiguousarray would turn a 0-d tensor into shape (1,))
        if self.metadata.get("conj"):
            out = np.conj(out)
        if self.metadata.get("neg"):
            out = -out
        return out


# --- stand-ins for the allowed rebuild functions ------------------------------


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
):
    return _LazyTensor(storage, storage_offset, size, stride, metadata=metadata)


def _rebuild_tensor_v3(
    storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None
):
    if not isinstance(dtype, _DType):
        raise TorchPickleError("_rebuild_tensor_v3 without a torch dtype")
    return _LazyTensor(storage, storage_offset, size, stride, dtype=dtype.dtype, metadata=metadata)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, _LazyTensor):
        raise TorchPickleError("_rebuild_parameter without a tensor")
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
for _name in _STORAGE_DTYPES:
    _ALLOWED_GLOBALS[("torch", _name)] = _name  # resolved lazily (bfloat16)
_ALLOWED_GLOBALS[("torch.storage", "UntypedStorage")] = "UntypedStorage"


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, persistent_load=None):
        super().__init__(file, encoding="utf-8")
        self._persistent = persistent_load

    def find_class(self, module, name):
        obj = _ALLOWED_GLOBALS.get((module, name))
        if obj is None:
            if module == "torch" and name in _TORCH_DTYPES:
                return _DType(name)
            raise TorchPickleError(
                f"refusing to unpickle global {module}.{name} (not a tensor/state-dict type)"
            )
        if isinstance(obj, str):
            return _StorageType(obj)
        return obj

    def persistent_load(self, pid):
        if self._persistent is None:
            raise TorchPickleError("unexpected persistent id in a plain pickle")
        return self._persistent(pid)


def _materialize(obj, memo=None):
    """Replace every _LazyTensor in nested containers by a numpy array."""
    if memo is None:
        memo = {}
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, _LazyTensor):
        out = obj.materialize()
    elif isinstance(obj, collections.OrderedDict):
        out = collections.OrderedDict((k, _materialize(v, memo)) for k, v in obj.items())
        if getattr(obj, "__dict__", None):
            out.__dict__.update(obj.__dict__)  # e.g. state_dict._metadata
    elif isinstance(obj, dict):
        out = {k: _materialize(v, memo) for k, v in obj.items()}
    elif isinstance(obj, list):
        out = [_materialize(v, memo) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(_materialize(v, memo) for v in obj)
    elif isinstance(obj, (_Storage, _StorageView)):
        out = obj.elements().copy()  # a bare storage saved on its own
    else:
        out = obj
    memo[id(obj)] = out
    return out


def _storage_type_and_dtype(storage_type) -> np.dtype:
    if not isinstance(storage_type, _StorageType):
        raise TorchPickleError(f"bad storage type in persistent id: {storage_type!r}")
    return storage_type.dtype


def _load_zip(zf: zipfile.ZipFile) -> Any:
    names = zf.namelist()
    pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if not pkl:
        raise TorchPickleError("zip archive has no data.pkl (not a torch.save file?)")
    pkl_name = min(pkl, key=len)
    prefix = pkl_name[: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = zf.read(prefix + "byteorder").decode("ascii").strip()
        if byteorder not in ("little", "big"):
            raise TorchPickleError(f"unknown byteorder record {byteorder!r}")
    storages: dict[str, _Storage] = {}

    def persistent_load(pid):
        if not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage":
            raise TorchPickleError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        dtype = _storage_type_and_dtype(storage_type)
        key = str(key)
        if key not in storages:
            st = _Storage(key, dtype, numel)
            name = f"{prefix}data/{key}"
            try:
                raw = zf.read(name)
            except KeyError:
                raise TorchPickleError(f"missing storage record {name!r}") from None
            st.set_bytes(raw, byteorder)
            storages[key] = st
        return storages[key]

    with zf.open(pkl_name) as f:
        obj = _RestrictedUnpickler(io.BytesIO(f.read()), persistent_load).load()
    return _materialize(obj)


def _load_legacy(f) -> Any:
    def plain_load():
        return _RestrictedUnpickler(f).load()

    try:
        magic = plain_load()
    except TorchPickleError:
        raise
    except Exception:
        raise TorchPickleError(
            "not a torch.save file (neither a zip archive nor a legacy pickle stream)"
        ) from None
    if magic != MAGIC_NUMBER:
        raise TorchPickleError("invalid magic number: not a torch.save legacy file")
    proto = plain_load()
    if proto != PROTOCOL_VERSION:
        raise TorchPickleError(f"unsupported legacy protocol version {proto!r}")
    sys_info = plain_load()
    little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    byteorder = "little" if little else "big"

    storages: dict[str, _Storage] = {}
    views: dict[str, _StorageView] = {}

    def persistent_load(pid):
        if not isinstance(pid, tuple) or len(pid) != 6 or pid[0] != "storage":
            raise TorchPickleError(f"unexpected persistent id {pid!r}")
        _, storage_type, root_key, _location, numel, view_metadata = pid
        dtype = _storage_type_and_dtype(storage_type)
        root_key = str(root_key)
        if root_key not in storages:
            storages[root_key] = _Storage(root_key, dtype, numel)
        root = storages[root_key]
        if view_metadata is None:
            return root
        view_key, offset, view_size = view_metadata
        view_key = str(view_key)
        if view_key not in views:
            views[view_key] = _StorageView(root, offset, view_size)
        return views[view_key]

    obj = _RestrictedUnpickler(f, persistent_load).load()
    keys = plain_load()
    if not isinstance(keys, list):
        raise TorchPickleError("corrupt legacy file: storage key list missing")
    fmt = "<q" if little else ">q"
    for key in keys:
        key = str(key)
        if key not in storages:
            raise TorchPickleError(f"corrupt legacy file: unknown storage key {key!r}")
        st = storages[key]
        head = f.read(8)
        if len(head) != 8:
            raise TorchPickleError(f"truncated file while reading storage {key!r}")
        (numel,) = struct.unpack(fmt, head)
        if numel != st.numel:
            raise TorchPickleError(
                f"storage {key!r}: header says {numel} elements, pickle says {st.numel}"
            )
        nbytes = numel * st.dtype.itemsize
        raw = f.read(nbytes)
        st.set_bytes(raw, byteorder)
    return _materialize(obj)


def load(path: str | os.PathLike) -> Any:
    """Load a ``torch.save`` file into numpy arrays, without torch.

    Args:
      path: file written by ``torch.save`` (zip or legacy format).

    Returns:
      The saved object with every tensor replaced by a C-contiguous
      ``np.ndarray`` (same dtype, shape and values as the tensor view).
      Containers (dict / OrderedDict / list / tuple) are preserved.

    Raises:
      FileNotFoundError: if ``path`` does not exist.
      TorchPickleError: unsupported, corrupt, or disallowed content.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"  # torch.serialization._is_zipfile
    if is_zip:
        with zipfile.ZipFile(path) as zf:
            return _load_zip(zf)
    with open(path, "rb") as f:
        return _load_legacy(f)

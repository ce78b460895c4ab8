"""Reads a PyTorch state dict saved in the legacy (pre-1.6, non-zip) format, with numpy only.

The legacy file is five pickles followed by raw storages:

  1. a magic number, 2. the protocol version, 3. system info (endianness,
  type sizes), 4. the object itself, whose tensors point at storages by
  persistent id, 5. the list of storage keys; then, for each key in that
  order, an 8-byte little-endian element count and the storage's bytes.

Pickle runs code by design, so the unpickler here resolves only the few
names a state dict needs; any other global is refused before it is looked up.
"""

import collections
import pickle
import struct

import numpy as np

from lepton_tf.errors import ModelFileError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch/serialization.py: marks a legacy file
PROTOCOL_VERSION = 1001
ZIP_SIGNATURE = b"PK\x03\x04"  # the format torch.save has written since 1.6

STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
    "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class _Storage:
    """A storage named in the object pickle; its bytes come after the pickles."""

    def __init__(self, dtype, key, size):
        self.dtype, self.key, self.size = np.dtype(dtype), key, size


class _Tensor:
    """A tensor waiting for its storage's bytes: (storage, offset, size, stride), in elements."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): name for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only `ALLOWED_GLOBALS` and keeps storages as placeholders."""

    def __init__(self, file):
        super().__init__(file, encoding="latin1")  # latin1: byte strings written by Python 2
        self.storages = {}
        self.views = {}  # view key -> (root key, element offset, size)

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: not part of a state dict")
        return ALLOWED_GLOBALS[(module, name)]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, type_name, key, _location, size, view = pid
        if type_name not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type {type_name!r}")
        root = self.storages.setdefault(key, _Storage(STORAGE_DTYPES[type_name], key, size))
        if view is None:
            return root
        # Very old files: a storage that is a slice of another one.
        view_key, offset, view_size = view
        self.views[view_key] = (key, offset, view_size)
        return _Storage(root.dtype, view_key, view_size)


def read_state_dict(path):
    """Reads a legacy-format PyTorch state dict into numpy arrays.

    Args:
      path: a `.pth` file written by `torch.save(state_dict, f)` before
        PyTorch 1.6 (or with `_use_new_zipfile_serialization=False`).

    Returns:
      {name: np.ndarray}, in the file's order; scalar tensors become 0-d arrays.

    Raises:
      ModelFileError: the file is missing, zip-format, truncated, corrupt, or
        its pickle names anything but tensors, storages and an OrderedDict.
    """
    try:
        with open(path, "rb") as file:
            if file.read(4) == ZIP_SIGNATURE:
                raise ModelFileError(f"{path}: a zip-format PyTorch file; only the legacy format is read "
                                     f"(re-save it with torch.save(..., _use_new_zipfile_serialization=False))")
            file.seek(0)
            return _read(file)
    except ModelFileError:
        raise
    except OSError as error:
        raise ModelFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    except Exception as error:  # noqa: BLE001 - any failure to parse means a corrupt or foreign file
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(f"{path}: not a legacy PyTorch state dict ({message})") from None


def _read(file):
    # Every pickle, even the ones that should hold a plain integer, goes through the restricted loader.
    if RestrictedUnpickler(file).load() != MAGIC_NUMBER:
        raise ValueError("no PyTorch magic number")
    if RestrictedUnpickler(file).load() != PROTOCOL_VERSION:
        raise ValueError("unknown protocol version")
    system = RestrictedUnpickler(file).load()
    if not system.get("little_endian", False):
        raise ValueError("big-endian files are not supported")
    unpickler = RestrictedUnpickler(file)
    state = unpickler.load()
    keys = RestrictedUnpickler(file).load()
    data = {key: _read_storage(file, unpickler.storages[key]) for key in keys}
    for view_key, (root, offset, size) in unpickler.views.items():
        data[view_key] = data[root][offset:offset + size]
    if not isinstance(state, dict):
        raise ValueError("the file holds a model object, not a state dict")
    return {name: _materialise(tensor, data) for name, tensor in state.items()}


def _read_storage(file, storage):
    (count,) = struct.unpack("<q", file.read(8))
    if count != storage.size:
        raise ValueError(f"storage {storage.key} holds {count} elements, expected {storage.size}")
    raw = file.read(count * storage.dtype.itemsize)
    if len(raw) != count * storage.dtype.itemsize:
        raise ValueError("file ends inside a storage (truncated)")
    return np.frombuffer(raw, storage.dtype)


def _materialise(tensor, data):
    """Cuts a tensor out of its storage by offset, size and stride (all in elements)."""
    if not isinstance(tensor, _Tensor):
        raise ValueError(f"unexpected value of type {type(tensor).__name__} in the state dict")
    flat = data[tensor.storage.key]
    span = 1 + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride)) if all(tensor.size) else 0
    if tensor.offset < 0 or tensor.offset + span > len(flat):
        raise ValueError("a tensor reaches past the end of its storage")
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat[tensor.offset:], shape=tensor.size,
                                           strides=[s * itemsize for s in tensor.stride], writeable=False)
    return np.array(view)  # a copy: contiguous, writeable, independent of the file's buffer

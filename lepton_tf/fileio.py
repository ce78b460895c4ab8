"""Atomic writes: a file or folder appears complete or not at all.

Every output is written under a temporary name in the same folder and renamed
into place, so an interrupted run never leaves a complete-looking but broken
model, card or label file behind.
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def temporary_beside(path, suffix=""):
    """A new empty file `.NAME.XXXX.tmpSUFFIX` in `path`'s folder (created): where an atomic write starts.

    `remove_stale_temporaries` recognises the name if the writer is killed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should read like any other file
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside `path`; renames it to `path` on success.

    Args:
      path: the final file path.
      suffix: kept on the temporary name for writers that look at the
        extension (h5py, matplotlib).
    """
    tmp = temporary_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path):
    """Yields a temporary folder beside `path`; swaps it in for `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data):
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def copy_file(source, destination):
    """Copies a file to `destination` atomically (suffix kept, so `.weights.h5` stays loadable)."""
    with atomic_path(destination, suffix="".join(Path(destination).suffixes)) as tmp:
        shutil.copyfile(source, tmp)


def write_json(path, obj):
    """Writes `obj` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def remove_stale_temporaries(folder):
    """Deletes what interrupted atomic writes left under `folder` (`.NAME.*.tmp*` files and folders).

    A killed process cannot clean up after itself; the next stage on the
    same run folder does. Returns the number of entries removed.
    """
    stale = [p for p in Path(folder).rglob(".*") if ".tmp" in p.name or p.name.endswith(".old")]
    for path in sorted(stale, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    return len(stale)

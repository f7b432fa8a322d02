"""Compiled tables on disk: a directory of .npy arrays and a facts.json, mapped read-only.

Written whole into a staging directory and renamed into place, so a reader never sees half a
table and two processes building at once keep one result. Read with `mmap_mode="r"`: worker
processes share the pages through the page cache instead of each holding a copy.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def write_directory(directory: Path, arrays: dict[str, np.ndarray], facts: dict[str, Any]) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=directory.name + ".tmp"))
    try:
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (staging / "facts.json").write_text(json.dumps(facts))
        try:
            os.rename(staging, directory)
        except OSError:
            if not (directory / "facts.json").exists():
                raise
            # Another process put the same tables there first: theirs serve as well.
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_directory(
    directory: Path, names: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays, mapped read-only, and the facts of a table directory."""
    facts = json.loads((directory / "facts.json").read_text())
    arrays = {
        # A plain ndarray view of the map: numpy's memmap subclass only slows indexing down.
        name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
        for name in names
    }
    return arrays, facts


def is_complete(directory: Path) -> bool:
    return (directory / "facts.json").exists()

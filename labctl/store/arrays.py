"""Curves (array-valued readings) of a run go to HDF5 files beside the store's catalog.

A potentiostat's ``read()`` gives its curve as arrays (10 000 currents of a chronoamperometry).
Tiled keeps a stream's scalar readings in a SQL table, and SQLite has no array column type, so
the embedded store cannot take them inline. :class:`ArraysToHdf5` sits in front of bluesky's
``TiledWriter``: for every array-valued data key of a descriptor it writes the arrays to one
HDF5 dataset per key — one row per event, in ``<folder>/<run uid>/<descriptor uid>.h5`` — and
tells Tiled where they are with ``StreamResource``/``StreamDatum`` documents, the way bluesky's
own file-writing detectors do. Tiled then serves them as arrays of shape (events, points).

The documents the RunEngine emits are not changed for any other subscriber; only the copy handed
to the writer refers to the file.

A data key's shape is fixed per descriptor (a stream of a run): a curve of another length in
the same stream cannot be stacked and is refused with a :class:`~labctl.errors.StoreError` —
plans put techniques of different lengths in different streams.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labctl.errors import StoreError

__all__ = ["ArraysToHdf5", "array_keys"]

Callback = Callable[[str, Mapping[str, Any]], Any]


def array_keys(descriptor: Mapping[str, Any]) -> dict[str, list[int]]:
    """Data keys of ``descriptor`` that hold arrays read inline (not already external)."""
    keys: dict[str, list[int]] = {}
    for key, data_key in (descriptor.get("data_keys") or {}).items():
        shape = data_key.get("shape") or []
        if data_key.get("external") or not shape or data_key.get("dtype") != "array":
            continue
        keys[key] = [int(size) for size in shape]
    return keys


class _StreamFile:
    """The HDF5 file of one descriptor: one growing dataset per array key."""

    def __init__(self, path: Path, keys: Mapping[str, list[int]], dtypes: Mapping[str, str]):
        import h5py

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.keys = dict(keys)
        self.file = h5py.File(path, "w")
        self.rows = 0
        self.resources: dict[str, str] = {}
        for key, shape in keys.items():
            self.file.create_dataset(
                key,
                shape=(0, *shape),
                maxshape=(None, *shape),
                chunks=(1, *shape) if all(shape) else None,
                dtype=np.dtype(dtypes.get(key) or "<f8"),
            )

    def append(self, arrays: Mapping[str, np.ndarray]) -> int:
        """Write one event's arrays; return its row index."""
        row = self.rows
        for key, value in arrays.items():
            dataset = self.file[key]
            dataset.resize(row + 1, axis=0)
            dataset[row] = value
        self.file.flush()
        self.rows += 1
        return row

    def close(self) -> None:
        self.file.close()


class ArraysToHdf5:
    """A document callback writing array-valued readings to HDF5, then calling ``downstream``.

    Args:
        folder: where the HDF5 files go (a folder Tiled may read).
        downstream: the next callback (a ``TiledWriter``).
    """

    def __init__(self, folder: Path, downstream: Callback) -> None:
        self.folder = Path(folder)
        self.downstream = downstream
        self._run_uid = ""
        self._keys: dict[str, dict[str, list[int]]] = {}
        self._dtypes: dict[str, dict[str, str]] = {}
        self._files: dict[str, _StreamFile] = {}

    def __call__(self, name: str, doc: Mapping[str, Any]) -> None:
        """Handle one bluesky document."""
        handler = getattr(self, f"_{name}", None)
        if handler is None:
            self.downstream(name, doc)
            return
        handler(doc)

    def _start(self, doc: Mapping[str, Any]) -> None:
        self._close_files()
        self._run_uid = str(doc["uid"])
        self.downstream("start", doc)

    def _descriptor(self, doc: Mapping[str, Any]) -> None:
        keys = array_keys(doc)
        if not keys:
            self.downstream("descriptor", doc)
            return
        uid = str(doc["uid"])
        self._keys[uid] = keys
        self._dtypes[uid] = {
            key: str(doc["data_keys"][key].get("dtype_numpy") or "<f8") for key in keys
        }
        written = copy.deepcopy(dict(doc))
        for key in keys:
            written["data_keys"][key]["external"] = "STREAM:"
        self.downstream("descriptor", written)

    def _event(self, doc: Mapping[str, Any]) -> None:
        descriptor = str(doc["descriptor"])
        keys = self._keys.get(descriptor)
        if not keys:
            self.downstream("event", doc)
            return
        arrays: dict[str, np.ndarray] = {}
        for key, shape in keys.items():
            value = np.asarray(doc["data"][key])
            if list(value.shape) != shape:
                raise StoreError(
                    f"run {self._run_uid[:8]}: {key} has shape {list(value.shape)} in event "
                    f"{doc.get('seq_num')} but {shape} in its stream's descriptor; a stream "
                    "holds curves of one length — put other techniques in their own stream"
                )
            arrays[key] = value
        stream_file = self._files.get(descriptor)
        if stream_file is None:
            path = self.folder / self._run_uid / f"{descriptor}.h5"
            stream_file = _StreamFile(path, keys, self._dtypes[descriptor])
            self._files[descriptor] = stream_file
            for key in keys:
                resource = str(uuid.uuid4())
                stream_file.resources[key] = resource
                self.downstream(
                    "stream_resource",
                    {
                        "uid": resource,
                        "data_key": key,
                        "mimetype": "application/x-hdf5",
                        # Not Path.as_uri(): Tiled does not percent-decode file URIs, so
                        # a data directory with a space ("Lab Data") would be refused.
                        "uri": f"file://{path.resolve()}",
                        "parameters": {
                            "dataset": key,
                            "swmr": False,
                            "join_method": "stack",
                            "chunk_shape": [1],
                        },
                        "run_start": self._run_uid,
                    },
                )
        row = stream_file.append(arrays)
        scalars = copy.copy(dict(doc))
        scalars["data"] = {k: v for k, v in doc["data"].items() if k not in keys}
        scalars["timestamps"] = {k: v for k, v in doc["timestamps"].items() if k not in keys}
        if "filled" in doc:
            scalars["filled"] = {k: v for k, v in doc["filled"].items() if k not in keys}
        self.downstream("event", scalars)
        seq_num = int(doc["seq_num"])
        for key in keys:
            resource = stream_file.resources[key]
            self.downstream(
                "stream_datum",
                {
                    "uid": f"{resource}/{row}",
                    "stream_resource": resource,
                    "descriptor": descriptor,
                    "indices": {"start": row, "stop": row + 1},
                    "seq_nums": {"start": seq_num, "stop": seq_num + 1},
                },
            )

    def _event_page(self, doc: Mapping[str, Any]) -> None:
        from event_model import unpack_event_page

        for event in unpack_event_page(doc):  # type: ignore[arg-type]
            self._event(event)

    def _stop(self, doc: Mapping[str, Any]) -> None:
        # Close the files before Tiled reads them at the end of the run.
        self._close_files()
        self.downstream("stop", doc)

    def _close_files(self) -> None:
        for stream_file in self._files.values():
            stream_file.close()
        self._files.clear()
        self._keys.clear()
        self._dtypes.clear()

"""The wire: how the grader and the program inside the sandbox talk. This module is the contract.

A job goes in and results come out as messages of `pack`: an 8-byte header length, a JSON header,
then raw numeric arrays, never pickle, so a hostile message can at worst be refused. On the result
channel each message is a frame (its 8-byte length, then the message). `encode` turns what a
student's function returned into such a description (and the grader's trials into the job's);
`decode` rebuilds it. The grader imports this module too (stdlib and numpy only), and checks every
frame it reads against a strict schema (`grader.executors.received`), since code in the notebook
can write on the channel as if it were the harness.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

MAX_ELEMENTS = 1_000_000  # a result larger than this is not an answer to any exercise here
MAX_DEPTH = 32  # tuples, lists and dicts nested deeper than this are not an answer either
MAX_RESULT = 2**20  # bytes one call's result may take on the channel (answers here take a few KiB)
JOB_FILE = "job.bin"
INSIDE = "/grading"  # where the sandbox shows the job's folder to the notebook
FRAMES_FILE = "frames.bin"  # where a notebook's process writes its frames
KERNEL_MODULE = "backprop_grader_harness"  # the name by which the kernel's calls cell imports `kernel_calls`
PACKAGE = "backprop_grader_inside"  # this folder's name in the sandbox (not `grader`, which the notebook may not import)
GRACE = 2.0  # seconds a cell or a call has to end after its time limit's interrupt
SWALLOWED = 75  # the exit code of a process whose code caught that interrupt and ran on past GRACE


class TooLarge(Exception):
    """A value whose description would take more than its budget of bytes."""


def encode(value: Any, arrays: dict[str, np.ndarray], depth: int = 0, budget: list[int] | None = None) -> dict[str, Any]:
    """A JSON-able description of `value`; its arrays go into `arrays` (so no pickle is ever needed).
    With a `budget` (a one-item list of bytes), raises TooLarge once the description would exceed it."""
    if depth > MAX_DEPTH:
        return {"other": f"a value nested more than {MAX_DEPTH} deep"}
    kind = type(value)
    if isinstance(value, np.ndarray):
        value = np.ndarray.view(value, np.ndarray)  # numpy's own dtype and size, whatever a subclass claims
    if budget is not None:
        budget[0] -= 16 + (value.nbytes if isinstance(value, np.ndarray) else len(value) * 16 if isinstance(value, (tuple, list, dict)) else 0)
        if budget[0] < 0:
            raise TooLarge()
    if isinstance(value, np.ndarray):  # the common case first
        if value.dtype.kind not in "biuf":
            return {"other": f"ndarray of dtype {value.dtype}", "shape": list(value.shape)}
        if value.size > MAX_ELEMENTS:
            return {"other": f"ndarray with {value.size} elements", "shape": list(value.shape)}
        key = f"a{len(arrays)}"
        arrays[key] = np.array(value, copy=True, subok=False)
        if kind is not np.ndarray and kind.__module__.split(".")[0] == "numpy":  # np.matrix, a masked array: named in feedback
            return {"array": key, "subclass": kind.__name__[:40]}
        return {"array": key}
    if isinstance(value, (bool, int, float, np.generic)) and np.asarray(value).dtype.kind in "biuf":
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"array": key}
    if isinstance(value, (tuple, list)):  # a namedtuple is a tuple
        return {"seq": [encode(v, arrays, depth + 1, budget) for v in value], "kind": "list" if isinstance(value, list) else "tuple"}
    if isinstance(value, dict):
        return {"map": {str(k)[:200]: encode(v, arrays, depth + 1, budget) for k, v in value.items()}}
    if value is None:
        return {"none": True}
    return {"other": type(value).__name__}


def decode(spec: dict[str, Any], arrays: Any, copy: bool = True) -> Any:
    """Rebuild what `encode` described (with `copy`, on arrays of its own); anything that is not data
    comes back as an `Opaque`."""
    if "array" in spec:
        return np.array(arrays[spec["array"]]) if copy else arrays[spec["array"]]
    if "seq" in spec:
        items = [decode(v, arrays, copy) for v in spec["seq"]]
        return items if spec.get("kind") == "list" else tuple(items)
    if "map" in spec:
        return {k: decode(v, arrays, copy) for k, v in spec["map"].items()}
    if "none" in spec:
        return None
    return Opaque(str(spec.get("other", "unknown")))


def changed_inputs(before: dict[str, Any], after: Any) -> list[str]:
    """Names of the arguments a call modified in place (nested dicts as `params.W1`): the notebook's
    process reports these rather than every input back, and the self-check uses the same rule."""
    if not isinstance(after, dict):
        return arg_names(before)
    changed = []
    for name, value in before.items():
        if isinstance(value, dict):
            changed += [f"{name}.{n}" for n in changed_inputs(value, after.get(name))]
        elif not _same_bits(value, after.get(name)):
            changed.append(name)
    return changed


def arg_names(args: dict[str, Any]) -> list[str]:
    """Every argument's name, nested dicts' entries as `params.W1`."""
    return [f"{name}.{n}" if isinstance(value, dict) else name for name, value in args.items()
            for n in (arg_names(value) if isinstance(value, dict) else [""])]


def _same_bits(before: np.ndarray, after: Any) -> bool:
    """Bit-for-bit equal: any write, even of the same value's other zero (-0.0), counts as a change."""
    return isinstance(after, np.ndarray) and before.shape == after.shape and before.dtype == after.dtype and before.tobytes() == after.tobytes()


class Opaque:
    """A returned value that is not numeric data (a string, a function, an object array...)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def pack(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """One message: an 8-byte header length, a JSON header (the manifest, and each array's dtype,
    shape and place), then the arrays' raw bytes back to back."""
    layout, chunks, offset = {}, [], 0
    for key, array in arrays.items():
        raw = np.ascontiguousarray(array).tobytes()
        layout[key] = [array.dtype.str, list(array.shape), offset, len(raw)]
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps({"manifest": manifest, "arrays": layout}).encode()
    return len(header).to_bytes(8, "big") + header + b"".join(chunks)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and the arrays of one message. Only numeric dtypes are read: nothing is ever
    unpickled, so a hostile message can at worst be refused."""
    size = int.from_bytes(data[:8], "big")
    header = json.loads(data[8 : 8 + size].decode())
    body = memoryview(data)[8 + size :]
    arrays = {}
    for key, (dtype, shape, offset, length) in header["arrays"].items():
        kind = np.dtype(dtype)
        if kind.kind not in "biuf" or offset < 0 or offset + length > len(body) or length != kind.itemsize * math.prod(shape):
            raise ValueError(f"malformed array {key!r} in a message")
        arrays[key] = np.frombuffer(body[offset : offset + length], dtype=kind).reshape(shape)
    return header["manifest"], arrays


def frame(manifest: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """One message of a stream: its 8-byte length, then the message."""
    data = pack(manifest, arrays or {})
    return len(data).to_bytes(8, "big") + data


def frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Split a stream of length-prefixed frames into the complete ones and the incomplete rest
    (still to come, or cut short by a dying process)."""
    out, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 8], "big")
        if at + 8 + size > len(data):
            break
        out.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return out, data[at:]

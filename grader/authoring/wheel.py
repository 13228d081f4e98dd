"""A wheel written with zipfile: a zip archive of the package's files and a dist-info folder.

The student kit and the Gradescope autograder ship the grader as a wheel made here, from the files
of the installed package, so an instructor needs no build tool, no network and no source tree (a
wheel install works as well as an editable one). Its bytes depend only on its files.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Iterable


def write_wheel(folder: Path, name: str, version: str, files: dict[str, bytes], summary: str, requires: Iterable[str],
                scripts: dict[str, str], top_level: Iterable[str]) -> Path:
    """`name`-`version`-py3-none-any.whl in `folder`, holding `files` (path in the wheel → bytes);
    `scripts` are its console commands (name → module:function)."""
    dist = f"{name}-{version}.dist-info"
    files = dict(files)
    files[f"{dist}/METADATA"] = "\n".join(
        ["Metadata-Version: 2.1", f"Name: {name.replace('_', '-')}", f"Version: {version}", f"Summary: {summary}",
         "Requires-Python: >=3.11", *(f"Requires-Dist: {r}" for r in requires), ""]
    ).encode()
    files[f"{dist}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: backprop-grader\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if scripts:
        files[f"{dist}/entry_points.txt"] = ("[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())).encode()
    files[f"{dist}/top_level.txt"] = "".join(f"{t}\n" for t in top_level).encode()
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()] + [f"{dist}/RECORD,,", ""]
    files[f"{dist}/RECORD"] = "\n".join(record).encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

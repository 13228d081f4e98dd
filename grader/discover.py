"""Find the class's submissions and read their notebooks.

SUBMISSIONS holds `<student_id>.ipynb` files, `<student_id>/` folders with one notebook, and
`<student_id>.zip` archives of either. Anything wrong with one submission becomes that submission's
error, never the run's.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError

MAX_UNZIPPED = 200 * 1024 * 1024  # bytes; a larger archive is refused rather than unpacked


class NotebookError(ValueError):
    """A file that cannot be read as a Jupyter notebook; the message says why."""


@dataclass(frozen=True)
class Submission:
    student_id: str
    notebook: Path | None  # None when `error` says why there is no notebook to run
    files: Path | None = None  # what is copied into the working directory: the notebook's folder, or the notebook
    error: str = ""


def discover(root: Path, scratch: Path) -> list[Submission]:
    """Every submission under `root`, sorted by student id; zip archives are unpacked into `scratch`."""
    if not root.is_dir():
        raise FileNotFoundError(f"no submissions folder at {root}")
    found: dict[str, list[Submission]] = {}
    for entry in sorted(root.iterdir()):
        if _hidden(entry.name):
            continue
        if entry.suffix == ".ipynb" and entry.is_file():
            sub = Submission(entry.stem, entry, entry)
        elif entry.is_dir():
            sub = _from_folder(entry.name, entry, entry)
        elif entry.suffix == ".zip" and entry.is_file():
            sub = _from_zip(entry, scratch / f"{len(found)}-{entry.stem}")
        else:
            continue
        found.setdefault(sub.student_id, []).append(sub)
    return [subs[0] if len(subs) == 1 else _ambiguous(sid, subs) for sid, subs in sorted(found.items())]


def read_cells(notebook: Path) -> list[str]:
    """The code cells' sources, in order; nbformat upgrades v3 notebooks to v4 on the way."""
    try:
        with open(notebook, encoding="utf-8") as f:
            nb = nbformat.read(f, as_version=4)
        return [cell.source for cell in nb.cells if cell.cell_type == "code"]
    except UnicodeDecodeError:
        raise NotebookError(f"{notebook.name} is not a text file (is it really a .ipynb?)") from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if notebook.stat().st_size == 0:
            reason = "the file is empty"
        elif isinstance(exc, NotJSONError):
            reason = "it is not valid JSON (was the file cut off or edited by hand?)"
        raise NotebookError(f"{notebook.name} is not a readable Jupyter notebook: {reason[:300]}") from None


def _from_folder(student_id: str, folder: Path, shown_as: Path) -> Submission:
    notebooks = sorted(p for p in folder.rglob("*.ipynb") if not any(map(_hidden, p.relative_to(folder).parts)))
    if len(notebooks) == 1:
        return Submission(student_id, notebooks[0], notebooks[0].parent)
    if not notebooks:
        return Submission(student_id, None, error=f"{shown_as.name} holds no notebook (.ipynb)")
    names = ", ".join(str(p.relative_to(folder)) for p in notebooks)
    return Submission(student_id, None, error=f"{shown_as.name} holds {len(notebooks)} notebooks ({names}); expected one")


def _from_zip(archive: Path, target: Path) -> Submission:
    try:
        with zipfile.ZipFile(archive) as zf:
            if sum(info.file_size for info in zf.infolist()) > MAX_UNZIPPED:
                return Submission(archive.stem, None, error=f"{archive.name} unpacks to more than {MAX_UNZIPPED // 2**20} MB")
            zf.extractall(target)  # extractall drops absolute paths and '..' components
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Submission(archive.stem, None, error=f"{archive.name} is not a readable zip archive: {exc}")
    return _from_folder(archive.stem, target, archive)


def _ambiguous(student_id: str, subs: list[Submission]) -> Submission:
    return Submission(student_id, None, error=f"{len(subs)} submissions found for {student_id} (a notebook, a folder or a zip each); keep one")


def _hidden(name: str) -> bool:
    """Checkpoints, dotfiles and macOS archive litter are never a student's notebook."""
    return name.startswith((".", "__MACOSX"))

"""Find the class's submissions and read their notebooks.

SUBMISSIONS holds `<student_id>.ipynb` files, `<student_id>/` folders with one notebook, and
`<student_id>.zip` archives of either. Anything wrong with one submission becomes that submission's
error, never the run's. Links are taken only inside a submission folder and to its own files: a
link that leaves it (to another student's notebook, to /proc or a device) refuses that submission,
and nothing but regular files is ever read, so reading a submission never blocks.
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
import zipfile
from pathlib import Path

import nbformat
from nbformat.reader import NotJSONError

from grader.executors.received import safe_text
from grader.model import Submission

SUBMISSION_SUFFIXES = (".ipynb", ".zip")
MAX_UNZIPPED = 200 * 1024 * 1024  # bytes; a larger archive is refused rather than unpacked
MAX_ID = 200  # bytes of a student id in UTF-8: a report's file name (feedback/<id>.html) must fit the filesystem's 255


class NotebookError(ValueError):
    """A file that cannot be read as a Jupyter notebook; the message says why."""


def discover(root: Path, scratch: Path, nbgrader: str | None = None) -> list[Submission]:
    """Every submission under `root` (a folder, or one notebook or zip: a class of one; with
    `nbgrader`, that assignment's folder of each student of nbgrader's submitted/ folder), sorted by
    student id; zip archives are unpacked into `scratch`."""
    found: dict[str, list[Submission]] = {}
    for index, entry in enumerate(entries(root, nbgrader)[0]):
        if nbgrader:
            sub = _from_folder(student_id(entry.parent.name), entry, entry.parent)
        elif entry.is_symlink():
            sub = Submission(student_id(entry.stem), None, error=f"{shown(entry.name)} is a link, not a submission: hand in the file itself")
        elif entry.is_dir():
            sub = _from_folder(student_id(entry.name), entry, entry)
        elif entry.suffix == ".zip":
            sub = _from_zip(entry, scratch / str(index))
        else:
            sub = Submission(student_id(entry.stem), entry, entry)
        found.setdefault(sub.student_id, []).append(sub)
    return [subs[0] if len(subs) == 1 else _ambiguous(sid, subs) for sid, subs in sorted(found.items())]


def entries(root: Path, nbgrader: str | None = None) -> tuple[list[Path], list[Path]]:
    """What `root` holds that is a submission (a notebook, a folder, a zip archive, or a link named as
    one, which is refused), and what is skipped (any other file); dotfiles, checkpoints and macOS
    archive litter are neither. A notebook or zip given itself is the one submission of its class.
    With `nbgrader` (nbgrader's submitted/<student>/<assignment>/ layout), each student's folder of
    that assignment; students without one are skipped."""
    if nbgrader:
        if not root.is_dir():
            raise FileNotFoundError(f"no submissions at {root}: it is not a folder of nbgrader's layout (submitted/<student>/<assignment>/)")
        students = [e for e in sorted(root.iterdir()) if e.is_dir() and not litter(e.name)]
        submitted = [s for s in students if not s.is_symlink() and (s / nbgrader).is_dir() and not (s / nbgrader).is_symlink()]
        return [s / nbgrader for s in submitted], [s for s in students if s not in submitted]  # links among them: never read
    if root.is_file() and root.suffix in SUBMISSION_SUFFIXES:
        return [root.resolve()], []  # the instructor's own argument: a link to a notebook is that notebook
    if not root.is_dir():
        what = "is a file, not a notebook, a zip archive or a folder of submissions" if root.exists() else "does not exist"
        raise FileNotFoundError(f"no submissions at {root}: it {what}")
    taken, skipped = [], []
    for entry in sorted(root.iterdir()):
        if litter(entry.name):
            continue
        if entry.is_symlink():  # refused when it is named or points as a submission would be; else skipped
            kept = entry.suffix in (*SUBMISSION_SUFFIXES, "") or entry.is_dir()
        else:
            kept = entry.is_dir() or (entry.suffix in SUBMISSION_SUFFIXES and entry.is_file())
        if kept:
            taken.append(entry)
        else:
            skipped.append(entry)
    return taken, skipped


def nbgrader_assignments(root: Path) -> list[str]:
    """The assignments of nbgrader's submitted/<student>/<assignment>/ layout, when all of `root` has
    it: every student's folder holds no notebook of its own and at least one assignment folder, and
    every folder in it that holds a notebook also holds the `timestamp.txt` nbgrader writes on
    submission (which tells it from a class of folder submissions that keep their notebook in a
    subfolder, one of which might hold such a file); else []."""
    if not root.is_dir():
        return []
    students = [e for e in root.iterdir() if not litter(e.name)]
    if not students or not all(e.is_dir() and not e.is_symlink() for e in students):
        return []
    names: set[str] = set()
    for folder in students:
        inner = [e for e in folder.iterdir() if not litter(e.name)]
        holding = [e for e in inner if e.is_dir() and not e.is_symlink() and any(e.glob("*.ipynb"))]
        if any(e.suffix == ".ipynb" for e in inner) or not holding or not all((e / "timestamp.txt").is_file() for e in holding):
            return []
        names |= {e.name for e in holding}
    return sorted(names)


def student_id(name: str) -> str:
    """The id a file or folder name gives: the name itself where it is safe text of at most MAX_ID
    bytes; otherwise (bytes that are not UTF-8, control characters, a very long name) the safe part of
    it and a short hash of the whole name, so that two names never give one id."""
    text = " ".join(shown(name).split())
    if text == name and 0 < len(text.encode()) <= MAX_ID:
        return name
    cut = text.encode()[: MAX_ID - 9].decode("utf-8", "ignore")
    return f"{cut}~{hashlib.sha256(os.fsencode(name)).hexdigest()[:8]}"


def shown(name: str | Path) -> str:
    """A file name or a relative path as safe text: bytes that are not UTF-8 shown as �."""
    return safe_text(os.fsencode(name).decode("utf-8", "replace"))


def read_cells(notebook: Path) -> list[str]:
    """The code cells' sources, in order; nbformat upgrades v3 notebooks to v4 on the way."""
    try:
        with open(notebook, encoding="utf-8") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's warnings (cells without ids) name the grader's paths, and change nothing
            nb = nbformat.convert(nbformat.reader.reads(f.read()), 4)  # nbformat.read's validation only logs, and costs twice the rest
        return [cell.source for cell in nb.cells if cell.cell_type == "code"]
    except UnicodeDecodeError:
        raise NotebookError(f"{shown(notebook.name)} is not a text file (is it really a .ipynb?)") from None
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if notebook.stat().st_size == 0:
            reason = "the file is empty"
        elif isinstance(exc, NotJSONError):
            reason = "it is not valid JSON (was the file cut off or edited by hand?)"
        elif "missing a key" in reason or "nbformat" in reason.lower() or isinstance(exc, (KeyError, AttributeError)):
            reason = "it is JSON, but not a notebook's (no cells or no nbformat version: was it saved by Jupyter?)"
        raise NotebookError(f"{shown(notebook.name)} is not a readable Jupyter notebook: {safe_text(reason, 300)}") from None


def _from_folder(sid: str, folder: Path, shown_as: Path) -> Submission:
    unsafe = _unsafe(folder)
    if unsafe:
        return Submission(sid, None, error=f"{shown(shown_as.name)} {unsafe}")
    notebooks = sorted(p for p in folder.rglob("*.ipynb") if not any(map(litter, p.relative_to(folder).parts)))
    if len(notebooks) == 1:
        return Submission(sid, notebooks[0], notebooks[0].parent)
    if not notebooks:
        return Submission(sid, None, error=f"{shown(shown_as.name)} holds no notebook (.ipynb)")
    names = ", ".join(shown(p.relative_to(folder)) for p in notebooks)
    return Submission(sid, None, error=f"{shown(shown_as.name)} holds {len(notebooks)} notebooks ({names}); expected one")


def _from_zip(archive: Path, target: Path) -> Submission:
    try:
        with zipfile.ZipFile(archive) as zf:
            if sum(info.file_size for info in zf.infolist()) > MAX_UNZIPPED:
                return Submission(student_id(archive.stem), None, error=f"{shown(archive.name)} unpacks to more than {MAX_UNZIPPED // 2**20} MB")
            zf.extractall(target)  # extractall drops absolute paths and '..' components
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Submission(student_id(archive.stem), None, error=f"{shown(archive.name)} is not a readable zip archive: {safe_text(exc)}")
    return _from_folder(student_id(archive.stem), target, archive)


def _unsafe(folder: Path) -> str:
    """Why a submission folder is refused ('' if it is not): it holds a link that leaves it or does not
    point at a file (another student's notebook, a device, a folder: a loop), or something that is
    neither a file nor a folder (a pipe, a socket, a device), which reading could block on."""
    inside = folder.resolve()
    for top, folders, files in os.walk(folder):  # links to folders are listed, not followed
        for name in folders + files:
            path = Path(top, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):  # dangling, or a loop
                    target = None
                if target is None or not target.is_relative_to(inside) or not stat.S_ISREG(target.stat().st_mode):
                    return (f"holds a link, {shown(path.relative_to(folder))}, that leaves the submission or does not point "
                            "at a file of it: hand in the files themselves")
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return f"holds {shown(path.relative_to(folder))}, which is neither a file nor a folder"
    return ""


def _ambiguous(sid: str, subs: list[Submission]) -> Submission:
    return Submission(sid, None, error=f"{len(subs)} submissions found for {sid} (a notebook, a folder or a zip each); keep one")


def litter(name: str) -> bool:
    """Checkpoints, dotfiles and macOS archive litter are never a student's notebook."""
    return name.startswith((".", "__MACOSX"))

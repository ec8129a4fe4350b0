"""Safe output: ``--out`` never deletes or overwrites a file peergrid did not write.

Every command that writes results (``peergrid demo/simulate/compare/report``, ``control
milford-haven``, ``federation run/experiment``, ``sweep``, ``zoom experiment``, ``clear
--out``) goes through this module. The policy:

* Results appear atomically: they are written into a temporary directory and moved into
  place only when the command succeeded. On any error, including Ctrl-C, the temporary
  directory is removed and the previous output is untouched.
* A directory ``--out`` that does not exist is created. One that exists is used only if
  it is empty or holds nothing but an earlier peergrid output: the marker file
  :data:`MARKER` (``.peergrid-output``, JSON) lists every file peergrid wrote there
  with its SHA-256. An output directory is "ours" only if every entry in it is listed
  in the marker *and* still has the recorded content; then exactly those entries are
  replaced. Anything else (a user file, an edited report, a symbolic link, a planted
  marker listing files it did not write) makes the command refuse with exit code 2 and
  one line, touching nothing. A directory ``--out`` (or the ``report`` DIR) that is a
  symbolic link is refused too.
* An existing directory is updated in place (its entries are swapped), so ``--out .``
  works in an empty current directory or in an earlier output, and the directory itself
  (permissions, a shell sitting in it) is kept.
* A file output (:func:`atomic_file`) is written through a temporary sibling
  and :func:`os.replace`; it refuses to replace a directory, a symbolic link or a file
  that is not an earlier output of the same kind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from peergrid.core.errors import ConfigError

__all__ = [
    "MARKER",
    "OUT_HELP",
    "OutputError",
    "atomic_file",
    "check_output_dir",
    "output_dir",
    "update_dir",
]

OUT_HELP = (
    "Must be new, empty or an earlier peergrid output (replaced atomically); a directory holding "
    "files peergrid did not write is refused with exit code 2 and left untouched."
)
"""The ``--out`` policy in one sentence, for the help of every command that writes a directory."""

MARKER = ".peergrid-output"
"""Name of the marker file listing what peergrid wrote into an output directory."""

_TMP = ".peergrid-tmp-"
_OLD = ".peergrid-old-"
_MAX_MARKER_BYTES = 16 * 2**20
_CHUNK = 2**20


class OutputError(ConfigError):
    """An output path is unsafe to write: it holds files peergrid did not write."""


def _not_ours(label: str, path: Path) -> OutputError:
    return OutputError(
        f"{label} {path}: directory exists and holds files peergrid did not write; choose a new or empty directory"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _Foreign(Exception):
    """An entry peergrid did not write (internal: stops a walk early)."""


def _manifest(
    directory: Path,
    skip: frozenset[str] = frozenset(),
    expect: tuple[dict[str, str], set[str]] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """SHA-256 of every regular file and the list of subdirectories under ``directory``.

    Paths are POSIX relative paths; the top-level marker and ``skip`` are left out.
    With ``expect = (files, dirs)`` the walk stops at the first entry not listed there
    or with another SHA-256 (raising ``_Foreign``) instead of hashing everything.
    Symbolic links and special files are never peergrid's: ``_Foreign``.
    """
    files: dict[str, str] = {}
    dirs: list[str] = []

    def walk(d: Path, rel: str) -> None:
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if not rel and (e.name == MARKER or e.name in skip):
                continue
            r = f"{rel}{e.name}"
            if e.is_dir(follow_symlinks=False):
                if expect is not None and r not in expect[1]:
                    raise _Foreign(r)
                dirs.append(r)
                walk(Path(e.path), r + "/")
            elif e.is_file(follow_symlinks=False):
                if expect is not None and r not in expect[0]:
                    raise _Foreign(r)
                files[r] = _sha256(Path(e.path))
                if expect is not None and expect[0][r] != files[r]:
                    raise _Foreign(r)
            else:
                raise _Foreign(r)

    walk(directory, "")
    return files, dirs


def _read_marker(directory: Path) -> dict[str, Any] | None:
    """The marker of ``directory`` if it is a small regular file holding a valid manifest."""
    path = directory / MARKER
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_MARKER_BYTES:
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    files, dirs = data.get("files"), data.get("dirs", [])
    if not isinstance(files, dict) or not isinstance(dirs, list):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    if not all(isinstance(d, str) for d in dirs):
        return None
    # entries are only ever looked up, never opened; still, drop anything that is not a plain relative path
    data["files"] = {k: v for k, v in files.items() if _plain(k)}
    data["dirs"] = [d for d in dirs if _plain(d)]
    return data


def _plain(rel: str) -> bool:
    """Whether ``rel`` is a plain relative POSIX path below the directory (no ``..``, not absolute)."""
    parts = rel.split("/")
    return bool(rel) and "\x00" not in rel and all(p not in ("", ".", "..") for p in parts)


def _owned(directory: Path, skip: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The marker of ``directory`` if the directory is empty or wholly an earlier peergrid output.

    Every entry (recursively, the marker and ``skip`` aside) must be listed in the marker
    and every file must still have the recorded SHA-256; entries the marker lists that
    are gone are fine. Returns ``{"files": {}, "dirs": []}`` for an empty directory and
    ``None`` when the directory holds anything peergrid did not write.
    """
    with os.scandir(directory) as it:
        names = {e.name for e in it} - skip
    if not names:
        return {"files": {}, "dirs": []}
    marker = _read_marker(directory)
    if marker is None:
        return None
    try:
        _manifest(directory, skip, expect=(marker["files"], set(marker["dirs"])))
    except _Foreign:
        return None
    return marker


def _marker_text(command: str, files: dict[str, str], dirs: list[str]) -> str:
    from peergrid import __version__

    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    doc = {
        "peergrid": __version__,
        "command": command,
        "created": created,
        "note": "Written by peergrid. peergrid replaces this directory's contents only while every file "
        "listed here is unchanged and nothing else is in it.",
        "dirs": sorted(dirs),
        "files": dict(sorted(files.items())),
    }
    return json.dumps(doc, indent=1) + "\n"


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_TMP, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_dir_target(target: Path, label: str) -> bool:
    """Whether ``target`` exists; refuse symbolic links and non-directories."""
    if target.is_symlink():
        raise OutputError(f"{label} {target}: is a symbolic link; give the directory it points to")
    if not target.exists():
        return False
    if not target.is_dir():
        raise OutputError(f"{label} {target}: exists and is not a directory")
    return True


def _mkdtemp(parent: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=_TMP, dir=parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the result should look like a normal mkdir
    return tmp


def check_output_dir(target: str | Path, *, label: str = "--out") -> None:
    """Refuse early an output directory :func:`output_dir` would refuse (call before long work).

    Parameters
    ----------
    target : str or pathlib.Path
        The output directory as the user gave it.
    label : str
        How the path is named in error messages.

    Raises
    ------
    OutputError
        ``target`` is a symbolic link, not a directory, or holds files peergrid did not write.
    """
    target = Path(target)
    if _check_dir_target(target, label) and _owned(target) is None:
        raise _not_ours(label, target)


@contextlib.contextmanager
def output_dir(target: str | Path, *, command: str, label: str = "--out") -> Iterator[Path]:
    """Write a command's output directory safely; yields the directory to write into.

    The body writes every file into the yielded temporary directory. On success the
    files move into ``target`` and a :data:`MARKER` listing them (SHA-256 each) is
    written; on any exception (``KeyboardInterrupt`` included) the temporary directory
    is removed and ``target`` is left exactly as it was.

    ``target`` may be missing (it is created, parents too), an empty directory, or a
    directory holding only an unchanged earlier peergrid output (its entries are
    replaced in place). Anything else raises :class:`OutputError` *before* the body
    runs, so no work is wasted and nothing is touched.

    Parameters
    ----------
    target : str or pathlib.Path
        The output directory as the user gave it (``.`` allowed).
    command : str
        The command recorded in the marker, e.g. ``"peergrid simulate"``.
    label : str
        How the path is named in error messages (``--out`` or ``DIR``).

    Yields
    ------
    pathlib.Path
        A fresh empty directory on the same file system as ``target``.

    Raises
    ------
    OutputError
        ``target`` is a symbolic link, not a directory, or holds files peergrid did not
        write (also if that is discovered after the body ran).
    """
    target = Path(target)
    if _check_dir_target(target, label):
        if _owned(target) is None:
            raise _not_ours(label, target)
        tmp = _mkdtemp(target)
        try:
            yield tmp
            _swap_in(target, tmp, command, label)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{label} {target}: cannot create {parent}: {exc.strerror}") from None
    tmp = _mkdtemp(parent)
    try:
        yield tmp
        files, dirs = _manifest(tmp)
        _write_text_atomic(tmp / MARKER, _marker_text(command, files, dirs))
        try:
            os.rename(tmp, target)  # atomic; fails if a non-empty directory appeared meanwhile
        except OSError:
            if not os.path.lexists(target):
                raise
            if not _check_dir_target(target, label) or _owned(target) is None:
                raise _not_ours(label, target) from None
            # an empty directory or our own output appeared while we worked (a parallel run)
            inner = _mkdtemp(target)
            try:
                for name in os.listdir(tmp):
                    if name != MARKER:
                        os.rename(tmp / name, inner / name)
                _swap_in(target, inner, command, label)
            finally:
                shutil.rmtree(inner, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(target: Path, new: Path, command: str, label: str) -> None:
    """Replace the peergrid-written entries of ``target`` by the entries of ``new`` (inside ``target``)."""
    skip = frozenset({new.name})
    marker = _owned(target, skip)  # again: the directory may have changed while the command ran
    if marker is None:
        raise _not_ours(label, target)
    files, dirs = _manifest(new)
    old_names = sorted(n for n in os.listdir(target) if n != MARKER and n not in skip)
    new_names = sorted(os.listdir(new))
    trash = _mkdtemp(target)
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in old_names:
            os.rename(target / name, trash / name)
            moved_old.append(name)
        for name in new_names:
            os.rename(new / name, target / name)
            moved_new.append(name)
        _write_text_atomic(target / MARKER, _marker_text(command, files, dirs))
    except BaseException:
        for name in reversed(moved_new):
            with contextlib.suppress(OSError):
                os.rename(target / name, new / name)
        for name in reversed(moved_old):
            with contextlib.suppress(OSError):
                os.rename(trash / name, target / name)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def update_dir(
    directory: str | Path,
    *,
    command: str,
    label: str = "DIR",
    obsolete: Callable[[list[str]], Iterable[str]] | None = None,
) -> Iterator[Path]:
    """Add or replace files in an existing directory (``peergrid report DIR``); yields a temporary directory.

    The body writes flat files into the yielded directory. On success each moves into
    ``directory`` with :func:`os.replace`, and the marker is updated to list them. A file
    of the same name already in ``directory`` is replaced only if the marker records it
    with its current content; otherwise :class:`OutputError` is raised and nothing is
    touched. Files peergrid did not write are never replaced.

    ``obsolete`` names, given the new files' names, earlier outputs the new ones supersede
    (e.g. the PNG figures when a report is rebuilt with SVG figures): each is removed if
    the marker records it with its current content, and otherwise left alone.

    Parameters
    ----------
    directory : str or pathlib.Path
        An existing directory (not a symbolic link).
    command : str
        The command recorded in the marker.
    label : str
        How the path is named in error messages.
    obsolete : callable, optional
        ``obsolete(new_names) -> names`` of files to remove if peergrid wrote them.

    Yields
    ------
    pathlib.Path
        A fresh empty directory inside ``directory``.
    """
    directory = Path(directory)
    if not _check_dir_target(directory, label):
        raise OutputError(f"{label} {directory}: no such directory")
    tmp = _mkdtemp(directory)
    try:
        yield tmp
        marker = _read_marker(directory) or {"files": {}, "dirs": []}
        files: dict[str, str] = dict(marker["files"])
        dirs: list[str] = list(marker["dirs"])
        new_files, new_dirs = _manifest(tmp)
        if new_dirs:
            raise OutputError(f"{label} {directory}: only files can be updated in place")
        for name in new_files:
            dest = directory / name
            if os.path.lexists(dest) and not (
                dest.is_file() and not dest.is_symlink() and files.get(name) == _sha256(dest)
            ):
                raise OutputError(
                    f"{label} {directory}: {name} exists and was not written by peergrid; "
                    "move it away or use a new directory"
                )
        stale = [
            name for name in (obsolete(sorted(new_files)) if obsolete is not None else ())
            if name not in new_files and _plain(name) and "/" not in name and name in files
        ]  # fmt: skip
        for name, digest in new_files.items():
            os.replace(tmp / name, directory / name)
            files[name] = digest
        for name in stale:
            dest = directory / name
            if not os.path.lexists(dest):
                files.pop(name, None)
            elif dest.is_file() and not dest.is_symlink() and files[name] == _sha256(dest):
                dest.unlink()
                files.pop(name, None)
        _write_text_atomic(
            directory / MARKER, _marker_text(command, files, [d for d in dirs if (directory / d).is_dir()])
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_file(
    path: str | Path,
    data: str | bytes,
    *,
    label: str = "--out",
    ours: Callable[[Path], bool] | None = None,
) -> Path:
    """Write one output file atomically (temporary sibling, then :func:`os.replace`).

    Parameters
    ----------
    path : str or pathlib.Path
        The file to write; its parent directories are created.
    data : str or bytes
        Content (``str`` is written as UTF-8 without newline translation).
    label : str
        How the path is named in error messages.
    ours : callable, optional
        Given an existing regular file, says whether it is an earlier output of the same
        kind that may be replaced. Without it an existing file is never replaced.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputError
        ``path`` is a directory, a symbolic link, or an existing file ``ours`` rejects.
    """
    path = Path(path)
    if path.is_symlink():
        raise OutputError(f"{label} {path}: is a symbolic link; give a plain file name")
    if path.is_dir():
        raise OutputError(f"{label} {path}: is a directory; give a file name")
    if path.exists() and not (path.is_file() and (path.stat().st_size == 0 or (ours is not None and ours(path)))):
        raise OutputError(f"{label} {path}: file exists and was not written by peergrid; choose a new file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{_TMP}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        if path.is_dir() and not path.is_symlink():
            raise OutputError(f"{label} {path}: is a directory; give a file name")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path

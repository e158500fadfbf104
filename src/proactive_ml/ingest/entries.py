"""What a landing folder holds: regular files to read, and entries refused with a reason (never followed).

A landing folder is walked without following links. A symbolic link is taken only when it resolves to a regular
file inside the folder; a link pointing outside it, a dangling link, a FIFO, a device or a socket is refused with
a reason and listed (:func:`check_entries` raises one error naming each), so nothing outside the folder is ever
opened and nothing of it is echoed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from proactive_ml.errors import UserError

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def refusal(path: Path, root: Path) -> str | None:
    """Why ``path`` (an entry under ``root``) may not be read, or None for a regular file inside the folder."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # missing target, or a loop of links
            return "dangling symbolic link (its target does not exist)"
        if not target.is_relative_to(root.resolve()):
            return "symbolic link pointing outside the landing folder (not followed)"
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            return None  # a link to a folder inside: its files are walked where they are
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return f"not a regular file: {_KINDS.get(stat.S_IFMT(mode), 'a special file')}"


def walk(root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Regular files under ``root`` (links to files inside it included) and the refused entries with reasons."""
    files: list[Path] = []
    refused: list[tuple[Path, str]] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        for name in sorted([*names, *(d for d in dirs if os.path.islink(os.path.join(folder, d)))]):
            p = Path(folder) / name
            why = refusal(p, root)
            if why is not None:
                refused.append((p, why))
            elif p.is_file():
                files.append(p)
    return sorted(files), sorted(refused)


def check_entries(refused: list[tuple[Path, str]], where: Path, limit: int = 20) -> None:
    """Refuse the run when the landing folder holds entries that may not be read, listing each with its reason."""
    if not refused:
        return
    lines = [f"  {p}: {why}" for p, why in refused[:limit]]
    if len(refused) > limit:
        lines.append(f"  ... and {len(refused) - limit} more")
    raise UserError(
        f"{where} holds {len(refused)} entr{'y' if len(refused) == 1 else 'ies'} that cannot be ingested "
        "(remove them or replace them with regular files):\n" + "\n".join(lines)
    )

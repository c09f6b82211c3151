"""What git knows about chart releases: release tags and changes since them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chartship import versions
from chartship.runner import Runner


@dataclass(frozen=True)
class Released:
    version: str
    tag: str


class Git:
    def __init__(self, root: Path, runner: Runner | None = None) -> None:
        self.root = root
        self.runner = runner or Runner()

    def _git(self, *args: str, check: bool = True) -> tuple[int, str]:
        result = self.runner.run(
            ["git", "-C", str(self.root), *args], check=check, what=f"git {args[0]}", timeout=120
        )
        return result.returncode, result.stdout

    def is_repository(self) -> bool:
        code, _ = self._git("rev-parse", "--is-inside-work-tree", check=False)
        return code == 0

    def tags(self) -> list[str]:
        _, out = self._git("tag", "--list")
        return [line.strip() for line in out.splitlines() if line.strip()]

    def changed_since(self, ref: str, path: Path) -> bool:
        """Whether ``path`` differs from ``ref``, counting untracked, unignored files."""
        code, _ = self._git("diff", "--quiet", ref, "--", str(path), check=False)
        if code == 1:
            return True
        if code != 0:
            self._git("diff", "--quiet", ref, "--", str(path))
        _, untracked = self._git("ls-files", "--others", "--exclude-standard", "--", str(path))
        return bool(untracked.strip())

    def head(self) -> str | None:
        """The checked-out commit, or None in a repository with no commit yet."""
        code, out = self._git("rev-parse", "--verify", "--quiet", "HEAD", check=False)
        return out.strip() if code == 0 and out.strip() else None

    def object_ids(self, specs: Sequence[str]) -> dict[str, str | None]:
        """``git rev-parse`` of many ``<rev>:<path>`` specs in one process (None: absent)."""
        if not specs:
            return {}
        result = self.runner.run(
            ["git", "-C", str(self.root), "cat-file", "--batch-check=%(objectname)"],
            stdin="".join(f"{spec}\n" for spec in specs),
            what="git cat-file",
            timeout=120,
        )
        found: dict[str, str | None] = {}
        for spec, line in zip(specs, result.stdout.splitlines(), strict=True):
            found[spec] = None if line.endswith(" missing") or " " in line else line.strip()
        return found

    def dirty_paths(self, paths: Sequence[Path]) -> list[Path]:
        """Files under ``paths`` with uncommitted changes, untracked unignored ones included."""
        _, top = self._git("rev-parse", "--show-toplevel")
        _, out = self._git(
            "status", "--porcelain", "-z", "--untracked-files=all", "--", *map(str, paths)
        )
        # Porcelain paths are relative to the top level; a rename's source follows it.
        return [Path(top.strip()) / entry[3:] for entry in out.split("\0") if len(entry) > 3]

    def last_commit_time(self, path: Path) -> int | None:
        code, out = self._git("log", "-1", "--format=%ct", "--", str(path), check=False)
        return int(out.strip()) if code == 0 and out.strip().isdigit() else None


_REF_FORBIDDEN = frozenset(" ~^:?*[\\")


def ref_name_problem(tag: str) -> str | None:
    """Why ``tag`` cannot be a git tag name (``git check-ref-format``'s rules for
    ``refs/tags/<tag>``), or None when it can."""
    if not tag:
        return "it is empty"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in tag):
        return "it holds a control character"
    bad = sorted(set(tag) & _REF_FORBIDDEN)
    if bad:
        return f"it holds {' '.join(repr(c) for c in bad)}"
    if ".." in tag or "@{" in tag or "//" in tag:
        return "it holds '..', '@{' or '//'"
    if tag == "@" or tag.startswith("/") or tag.endswith(("/", ".")):
        return "it is '@', or starts with '/', or ends with '/' or '.'"
    if any(part.startswith(".") or part.endswith(".lock") for part in tag.split("/")):
        return "a part of it starts with '.' or ends with '.lock'"
    return None


def tag_pattern(template: str, name: str) -> re.Pattern[str]:
    """A regex matching the tags ``template`` gives for chart ``name``."""
    escaped = re.escape(template)
    escaped = escaped.replace(re.escape("{name}"), re.escape(name))
    escaped = escaped.replace(re.escape("{version}"), r"(?P<version>\S+)")
    return re.compile(f"^{escaped}$")


def released_version(tags: list[str], template: str, name: str) -> Released | None:
    """Highest SemVer version among the release tags of chart ``name``."""
    pattern = tag_pattern(template, name)
    by_version: dict[str, str] = {}
    for tag in tags:
        match = pattern.match(tag)
        if match and versions.is_valid(match.group("version")):
            by_version[match.group("version")] = tag
    best = versions.highest(list(by_version))
    return Released(best, by_version[best]) if best is not None else None

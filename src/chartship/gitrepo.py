"""What git knows about chart releases: release tags and changes since them."""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chartship import versions
from chartship.errors import ToolError
from chartship.runner import Runner


@dataclass(frozen=True)
class Released:
    version: str
    tag: str


@dataclass(frozen=True)
class Checkout:
    """What a command asks of a work tree before anything else, from one git process."""

    toplevel: Path
    shallow: bool
    tags: tuple[str, ...]


#: How long a remote may take to list its tags before the clone's gap is reported as such.
REMOTE_TIMEOUT = 30.0


class Git:
    def __init__(self, root: Path, runner: Runner | None = None) -> None:
        self.root = root
        self.runner = runner or Runner()

    def _git(self, *args: str, check: bool = True, timeout: float = 120) -> tuple[int, str]:
        result = self.runner.run(
            ["git", "-C", str(self.root), *args],
            check=check,
            what=f"git {args[0]}",
            timeout=timeout,
            # Never wait for someone to type a password: a remote that asks is one not asked.
            env={"GIT_TERMINAL_PROMPT": "0"},
        )
        return result.returncode, result.stdout

    def is_repository(self) -> bool:
        code, _ = self._git("rev-parse", "--is-inside-work-tree", check=False)
        return code == 0

    def checkout(self) -> Checkout | None:
        """The work tree's top level, whether it is shallow, and its tags; None outside one.

        One ``git rev-parse`` answers all of them: a git process costs
        milliseconds to start, and a run that finds nothing to release pays
        for little else.
        """
        code, out = self._git(
            "rev-parse",
            "--is-inside-work-tree",
            "--show-toplevel",
            "--is-shallow-repository",
            "--symbolic-full-name",
            "--tags",
            check=False,
        )
        lines = out.splitlines()
        if code != 0 or len(lines) < 3 or lines[0] != "true":
            return None
        tags = tuple(line.removeprefix("refs/tags/") for line in lines[3:] if line)
        return Checkout(Path(lines[1]), lines[2] == "true", tags)

    def changes_since(self, ref: str, path: Path) -> list[Path]:
        """Files under ``path`` that differ from ``ref``: changed, added, removed, untracked.

        The working tree is compared, so an uncommitted edit counts as a
        committed one does; ignored files do not count.
        """
        top = self.toplevel()
        _, diff = self._git("diff", "--name-only", "--no-renames", "-z", ref, "--", str(path))
        _, untracked = self._git(
            "ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--", str(path)
        )
        names = {n for n in (diff + untracked).split("\0") if n}
        return [top / name for name in sorted(names)]

    def merge_base(self, ref: str) -> str | None:
        """The commit where HEAD left ``ref`` (a pull request's base), or None if none."""
        code, out = self._git("merge-base", "--end-of-options", ref, "HEAD", check=False)
        return out.strip() if code == 0 and out.strip() else None

    def resolves(self, ref: str) -> bool:
        code, _ = self._git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
        )
        return code == 0

    def show(self, rev: str, path: Path) -> str | None:
        """The text of ``path`` at ``rev``, or None where it did not exist."""
        relative = path.resolve().relative_to(self.toplevel().resolve()).as_posix()
        code, out = self._git("show", f"{rev}:{relative}", check=False)
        return out if code == 0 else None

    def toplevel(self) -> Path:
        _, top = self._git("rev-parse", "--show-toplevel")
        return Path(top.strip())

    def history_gap(
        self, checkout: Checkout, released: Callable[[str], bool] = lambda _tag: True
    ) -> str | None:
        """Why this clone cannot tell what was released, or None when it can.

        Release tags are the memory of what was released; a clone without them
        would make every chart look "never released". A shallow clone with no
        tag (``git clone --depth``, or actions/checkout's default of one
        commit) and a clone made with ``--no-tags`` are suspects; their remote
        is asked (``git ls-remote --tags``) whether it has any tag
        ``released`` accepts, and only a remote that has none clears them (a
        repository that never released anything).
        """
        if checkout.tags:
            return None
        if checkout.shallow:
            how = (
                "this clone is shallow and has no tags (made with `git clone --depth`, or by "
                "actions/checkout without `fetch-depth: 0`)"
            )
            fix = "fetch the history and tags (`git fetch --unshallow --tags`)"
        elif self._no_tags_remotes():
            how = "this clone was made without tags (`git clone --no-tags`)"
            fix = "fetch them (`git fetch --tags`)"
        else:
            return None
        remote_has, asked = self._remote_release_tags(released)
        if asked and not remote_has:
            return None
        known = "" if asked else ", and its remote could not be asked for them"
        return (
            f"{how}{known}, so it cannot tell which chart versions were released; {fix}, or "
            "in GitHub Actions give actions/checkout `fetch-depth: 0`"
        )

    def _no_tags_remotes(self) -> list[str]:
        _, config = self._git("config", "--get-regexp", r"^remote\..*\.tagopt$", check=False)
        return [
            line.split()[0].split(".")[1]
            for line in config.splitlines()
            if line.split()[-1:] == ["--no-tags"]
        ]

    def _remote_release_tags(self, released: Callable[[str], bool]) -> tuple[bool, bool]:
        """(whether a remote has a release tag, whether any remote answered)."""
        _, remotes = self._git("remote", check=False)
        asked = False
        for remote in remotes.split():
            try:
                code, out = self._git(
                    "ls-remote", "--tags", "--refs", remote, check=False, timeout=REMOTE_TIMEOUT
                )
            except ToolError:  # it did not answer in time
                continue
            if code != 0:
                continue
            asked = True
            names = [line.split("refs/tags/", 1)[-1] for line in out.splitlines()]
            if any(released(name) for name in names):
                return True, True
        return False, asked

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

    def dirty_paths(self, paths: Sequence[Path], top: Path | None = None) -> list[Path]:
        """Files under ``paths`` with uncommitted changes, untracked unignored ones included.

        ``top`` is the work tree's top level when the caller knows it already.
        """
        top = self.toplevel() if top is None else top
        _, out = self._git(
            "status", "--porcelain", "-z", "--untracked-files=all", "--", *map(str, paths)
        )
        # Porcelain paths are relative to the top level; a rename's source follows it.
        return [top / entry[3:] for entry in out.split("\0") if len(entry) > 3]

    def commit(self, paths: Sequence[Path], message: str) -> str:
        """Commit exactly ``paths`` (added first: a file may be new), leaving anything
        else staged as it was; the new commit's id."""
        names = [str(p) for p in paths]
        self._git("add", "--", *names)
        self._git("commit", "-q", "--only", "-m", message, "--", *names)
        _, out = self._git("rev-parse", "HEAD")
        return out.strip()

    def last_commit_time(self, path: Path) -> int | None:
        code, out = self._git("log", "-1", "--format=%ct", "--", str(path), check=False)
        return int(out.strip()) if code == 0 and out.strip().isdigit() else None


def name_some(names: Sequence[object], limit: int = 3) -> str:
    """The first ``limit`` of ``names``, then how many more: "a, b, c and 4 more"."""
    shown = [str(n) for n in names[:limit]]
    rest = len(names) - len(shown)
    if rest > 0:
        return f"{', '.join(shown)} and {rest} more"
    if len(shown) > 1:
        return f"{', '.join(shown[:-1])} and {shown[-1]}"
    return shown[0] if shown else "nothing"


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


@dataclass(frozen=True)
class TagPattern:
    """The tags a release tag template gives one chart: the literal text around each
    ``{version}``, the chart's name filled in."""

    pieces: tuple[str, ...]

    def version(self, tag: str) -> str | None:
        """The version ``tag`` names for this chart, or None when it is not such a tag.

        The template is literal text, so a tag is the pieces with one version (no
        whitespace, not empty) between each pair; plain string work, where a regex
        compiled per chart would cost more than the comparisons it makes.
        """
        gaps = len(self.pieces) - 1
        room = len(tag) - sum(map(len, self.pieces))
        if gaps < 1 or room < gaps or room % gaps:
            return None
        start = len(self.pieces[0])
        version = tag[start : start + room // gaps]
        if version.join(self.pieces) != tag or any(c.isspace() for c in version):
            return None
        return version

    def matches(self, tag: str) -> bool:
        return self.version(tag) is not None


def tag_pattern(template: str, name: str) -> TagPattern:
    """The release tags ``template`` gives for chart ``name``.

    The template is read as ``str.format`` reads it (``{{`` is a brace), as the
    tags themselves are made (:meth:`chartship.config.Settings.release_tag`).
    """
    pieces, current = [], ""
    for literal, field_name, _, _ in string.Formatter().parse(template):
        current += literal
        if field_name == "name":
            current += name
        elif field_name == "version":
            pieces.append(current)
            current = ""
    pieces.append(current)
    return TagPattern(tuple(pieces))


def release_tags(tags: list[str], template: str, name: str) -> dict[str, str]:
    """{version: tag} of every release tag of chart ``name`` that names a SemVer version."""
    pattern = tag_pattern(template, name)
    by_version: dict[str, str] = {}
    for tag in tags:
        version = pattern.version(tag)
        if version is not None and versions.is_valid(version):
            by_version[version] = tag
    return by_version


def released_version(tags: list[str], template: str, name: str) -> Released | None:
    """Highest SemVer version among the release tags of chart ``name``."""
    by_version = release_tags(tags, template, name)
    best = versions.highest(list(by_version))
    return Released(best, by_version[best]) if best is not None else None

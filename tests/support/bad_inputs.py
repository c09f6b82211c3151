"""The bad-input corpus: one directory per case under ``tests/data/bad_inputs``.

A case directory holds ``case.yaml`` and the bad input itself:

* ``files/``: laid over a fresh workspace (a git repository holding a copy of
  charts/ and the default chartship.yaml), then committed;
* ``served/``: the pages site (the bare origin's ``gh-pages`` branch, which
  chartship reads as the served index.yaml and pushes index.yaml to); without
  it, ``_defaults/served/`` (an empty index);
* ``archives`` in case.yaml: .tgz files built from a member listing, so that
  hostile archives stay readable text here;
* ``links`` in case.yaml: symbolic links laid over the workspace (``files/...``
  to a target), since a link cannot be a file of this directory;
* ``remotes`` in case.yaml: git remotes of the workspace besides ``origin``.

Every text file may use the placeholders of :data:`PLACEHOLDER`; ``{sha256:KEY}``
is the sha256 of the archive ``KEY`` (``files/...`` or ``served/...``) built for
the case. Other braces (``{name}``, ``{version}`` in ``release.tag``) are left
alone. ``tests/data/bad_inputs/README.md`` describes the format for people.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
DEFAULTS = CORPUS / "_defaults"

PLACEHOLDER = re.compile(
    r"\{(helm|registry|tls_registry|tls_ca|tls_username|served|github_api|github_repo"
    r"|namespace|outside|sha256:[^{}\s]+)\}"
)
CATEGORIES = ("chart", "config", "index", "archive", "credentials", "tag", "bump")
_KEYS = {
    "description",
    "category",
    "commands",
    "expect",
    "exit",
    "env",
    "stdin",
    "git_tags",
    "archives",
    "packaged",
    "both_helms",
    "links",
    "remotes",
}
_REQUIRED = {"description", "category", "commands", "expect", "exit"}
#: Tar entries of a built archive carry this time, so its bytes never change.
_MTIME = 1_700_000_000


class CaseError(ValueError):
    """A case directory that does not follow the format; names the case."""


@dataclass(frozen=True)
class Member:
    name: str
    text: str | None = None
    link: str | None = None


@dataclass(frozen=True)
class Archive:
    members: tuple[Member, ...]
    truncate: int | None = None

    def build(self) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for member in self.members:
                info = tarfile.TarInfo(member.name)
                info.mtime = _MTIME
                if member.link is not None:
                    info.type = tarfile.SYMTYPE
                    info.linkname = member.link
                    tar.addfile(info)
                    continue
                data = (member.text or "").encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        packed = gzip.compress(buffer.getvalue(), mtime=0)
        return packed[: self.truncate] if self.truncate is not None else packed


@dataclass(frozen=True)
class Case:
    name: str
    root: Path
    description: str
    category: str
    commands: tuple[tuple[str, ...], ...]
    expect: str
    exits: Mapping[str, int]
    env: Mapping[str, str | None] = field(default_factory=dict)
    stdin: str | None = None
    git_tags: tuple[str, ...] = ()
    archives: Mapping[str, Archive] = field(default_factory=dict)
    packaged: tuple[str, ...] = ()
    both_helms: bool = False
    links: Mapping[str, str] = field(default_factory=dict)
    remotes: Mapping[str, str] = field(default_factory=dict)

    def exit_for(self, argv: tuple[str, ...]) -> int:
        return self.exits.get(command_word(argv), self.exits["*"])

    def text(self) -> str:
        """Everything the case is made of, to see which services it needs."""
        parts = [(self.root / "case.yaml").read_text()]
        for tree in ("files", "served"):
            base = self.root / tree
            if base.is_dir():
                parts += [p.read_text() for p in sorted(base.rglob("*")) if p.is_file()]
        return "\n".join(parts)

    @property
    def needs_tls_registry(self) -> bool:
        return "{tls_registry}" in self.text()

    @property
    def namespace(self) -> str:
        return "bad-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


def command_word(argv: tuple[str, ...]) -> str:
    """How ``exit`` names a command: its subcommand, ``migrate status`` for the migrate steps."""
    words = [a for a in argv if not a.startswith("-")]
    if words[:1] == ["migrate"] and len(words) > 1:
        return f"migrate {words[1]}"
    return words[0] if words else ""


def _fail(name: str, message: str) -> CaseError:
    return CaseError(f"bad-input case {name}: {message}")


def _archive(name: str, key: str, raw: Any) -> Archive:
    if not isinstance(raw, dict) or not isinstance(raw.get("members"), dict):
        raise _fail(name, f"archives.{key} needs a members mapping")
    if not key.startswith(("files/", "served/")):
        raise _fail(name, f"archives.{key} must lie under files/ or served/")
    members = []
    for member, content in raw["members"].items():
        if isinstance(content, dict) and set(content) == {"link"}:
            members.append(Member(str(member), link=str(content["link"])))
        elif isinstance(content, str):
            members.append(Member(str(member), text=content))
        else:
            raise _fail(name, f"archives.{key}.members.{member}: text, or {{link: target}}")
    truncate = raw.get("truncate")
    if truncate is not None and not isinstance(truncate, int):
        raise _fail(name, f"archives.{key}.truncate must be a byte count")
    return Archive(tuple(members), truncate)


def load_case(directory: Path) -> Case:
    name = directory.name
    raw = yaml.safe_load((directory / "case.yaml").read_text())
    if not isinstance(raw, dict):
        raise _fail(name, "case.yaml must be a mapping")
    unknown = set(raw) - _KEYS
    missing = _REQUIRED - set(raw)
    if unknown or missing:
        raise _fail(name, f"unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    if raw["category"] not in CATEGORIES:
        raise _fail(name, f"category must be one of {', '.join(CATEGORIES)}")
    commands = raw["commands"]
    if not isinstance(commands, list) or not commands:
        raise _fail(name, "commands must be a non-empty list of argv lists")
    argvs = []
    for argv in commands:
        if not isinstance(argv, list) or not argv:
            raise _fail(name, f"command {argv!r} is not an argv list")
        argvs.append(tuple(str(a) for a in argv))
    exits = raw["exit"]
    if isinstance(exits, int):
        exits = {"*": exits}
    if not isinstance(exits, dict) or "*" not in exits:
        raise _fail(name, "exit is a status, or a mapping of command to status with a '*' entry")
    if any(not isinstance(v, int) or v in (0, 70) for v in exits.values()):
        raise _fail(name, "an expected exit status is an integer, neither 0 nor 70 (a bug)")
    env = raw.get("env") or {}
    if not isinstance(env, dict):
        raise _fail(name, "env must be a mapping")
    archives = {str(k): _archive(name, str(k), v) for k, v in (raw.get("archives") or {}).items()}
    expect = raw["expect"]
    if not isinstance(expect, str) or not expect.strip():
        raise _fail(name, "expect must be a non-empty string")
    links = raw.get("links") or {}
    remotes = raw.get("remotes") or {}
    if not isinstance(links, dict) or not all(str(k).startswith("files/") for k in links):
        raise _fail(name, "links maps files/... paths to link targets")
    if not isinstance(remotes, dict):
        raise _fail(name, "remotes maps remote names to URLs")
    return Case(
        name=name,
        root=directory,
        description=str(raw["description"]),
        category=raw["category"],
        commands=tuple(argvs),
        expect=expect,
        exits={str(k): int(v) for k, v in exits.items()},
        env={str(k): None if v is None else str(v) for k, v in env.items()},
        stdin=raw.get("stdin"),
        git_tags=tuple(str(t) for t in raw.get("git_tags") or ()),
        archives=archives,
        packaged=tuple(str(c) for c in raw.get("packaged") or ()),
        both_helms=bool(raw.get("both_helms", False)),
        links={str(k): str(v) for k, v in links.items()},
        remotes={str(k): str(v) for k, v in remotes.items()},
    )


def discover(corpus: Path = CORPUS) -> list[Case]:
    return [
        load_case(d)
        for d in sorted(corpus.iterdir())
        if d.is_dir() and not d.name.startswith("_") and (d / "case.yaml").is_file()
    ]


# --------------------------------------------------------------------------- laying out


def substitute(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"placeholder {{{key}}} has no value here")
        return values[key]

    return PLACEHOLDER.sub(one, text)


def _copy_tree(source: Path, target: Path, values: Mapping[str, str]) -> None:
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(substitute(path.read_text(), values))


def lay_out(
    case: Case, *, workspace: Path | None, served: Path | None, values: Mapping[str, str]
) -> dict[str, str]:
    """Write the case's ``files/`` into ``workspace`` and ``served/`` into ``served``.

    Either target may be None to skip it. Returns the placeholder values, with
    the sha256 of every archive built.
    """
    roots = {"files": workspace, "served": served}
    built = dict(values)
    for key, spec in case.archives.items():
        data = spec.build()
        built[f"sha256:{key}"] = hashlib.sha256(data).hexdigest()
        tree, _, relative = key.partition("/")
        base = roots[tree]
        if base is not None:
            (base / relative).parent.mkdir(parents=True, exist_ok=True)
            (base / relative).write_bytes(data)
    if workspace is not None and (case.root / "files").is_dir():
        _copy_tree(case.root / "files", workspace, built)
    if workspace is not None:
        for key, target in case.links.items():
            link = workspace / key.removeprefix("files/")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(substitute(target, built))
    if served is not None:
        source = case.root / "served"
        has_served_archives = any(k.startswith("served/") for k in case.archives)
        if not source.is_dir() and not has_served_archives:
            source = DEFAULTS / "served"
        if source.is_dir():
            _copy_tree(source, served, built)
    return built


def default_config(values: Mapping[str, str]) -> str:
    return substitute((DEFAULTS / "chartship.yaml").read_text(), values)

"""chart-testing's ct.yaml, read for what chartship.yaml leaves unset.

A repository that already lints with chart-testing adopts chartship without
rewriting its config. Each ct.yaml key maps to one chartship setting and is
used only when neither chartship.yaml nor an override sets that setting
(README, "chart-testing"). ct.yaml is input from the repository like any
other: read within bounds, every value type-checked, errors naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chartship.config import repository_name_problem, repository_url_problem
from chartship.errors import ChartError, ConfigError
from chartship.safetext import redact_urls, shown
from chartship.yamlfiles import CT_CONFIG, YamlDocument, load_yaml

#: Where chart-testing configs live, in the order they are looked for.
CANDIDATES = (
    "ct.yaml",
    "ct.yml",
    ".github/ct.yaml",
    ".github/ct.yml",
    ".github/linters/ct.yaml",
    ".github/linters/ct.yml",
)


def find(root: Path, configured: str | None) -> Path | None:
    """The ct.yaml to read: ``lint.ct_config`` if set (it must exist), else the first found."""
    if configured is not None:
        path = root / configured
        if not path.is_file():
            raise ConfigError("chart-testing config not found", path=path, key="lint.ct_config")
        return path
    for name in CANDIDATES:
        if (root / name).is_file():
            return root / name
    return None


def _strings(doc: YamlDocument, key: str) -> list[str]:
    value = doc.data[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError("must be a list of strings", path=doc.path, key=key, line=doc.line(key))
    return list(value)


def _flag(doc: YamlDocument, key: str) -> bool:
    value = doc.data[key]
    if not isinstance(value, bool):
        raise ConfigError("must be true or false", path=doc.path, key=key, line=doc.line(key))
    return value


def _string(doc: YamlDocument, key: str) -> str:
    value = doc.data[key]
    if not isinstance(value, str) or not value:
        raise ConfigError("must be a string", path=doc.path, key=key, line=doc.line(key))
    return value


def _chart_dirs(doc: YamlDocument, root: Path) -> Iterator[tuple[str, Any]]:
    dirs = _strings(doc, "chart-dirs")
    if not dirs:
        return
    yield "charts_dir", dirs[0]
    # chartship has one charts_dir; charts of the others are named one by one.
    for extra in dirs[1:]:
        directory = root / extra
        if directory.is_dir():
            for child in sorted(directory.iterdir()):
                if (child / "Chart.yaml").is_file():
                    yield f"charts.{child.name}.path", f"{extra.rstrip('/')}/{child.name}"


def _target(doc: YamlDocument, _root: Path) -> Iterator[tuple[str, Any]]:
    remote = _string(doc, "remote") if "remote" in doc.data else "origin"
    yield "lint.since", f"{remote}/{_string(doc, 'target-branch')}"


def _chart_repos(doc: YamlDocument, _root: Path) -> Iterator[tuple[str, Any]]:
    """chart-testing's ``name=url`` entries, which it gives to ``helm repo add name url``.

    An ``oci://`` entry is no repository name: chart-testing runs ``helm registry
    login`` for it (with ``helm-repo-extra-args`` as credentials), and helm
    resolves no ``@name`` against it, so it maps onto nothing here; chartship
    pulls oci:// dependencies by their URL, with credentials through
    ``dependencies.mirrors``.
    """
    found: dict[str, str] = {}
    for position, entry in enumerate(_strings(doc, "chart-repos")):
        line = doc.line("chart-repos", position)
        name, sep, url = entry.partition("=")
        if not sep:
            problem: str | None = (
                f"entry {shown(redact_urls(entry))} is not name=url "
                "(e.g. bitnami=https://charts.bitnami.com/bitnami)"
            )
        else:
            problem = repository_name_problem(name) or repository_url_problem(url)
        if problem is None and name in found and found[name] != url:
            problem = f"repository name {shown(name)} is given twice, with different URLs"
        if problem is not None:
            raise ConfigError(problem, path=doc.path, key="chart-repos", line=line)
        if not url.startswith("oci://"):
            found[name] = url
    if found:
        yield "dependencies.repositories", found


def _maintainers(doc: YamlDocument, _root: Path) -> Iterator[tuple[str, Any]]:
    yield "lint.rules.maintainers", "error" if _flag(doc, "validate-maintainers") else "off"


#: ct.yaml key -> the chartship settings (dotted key, value) it stands for.
MAPPING: dict[str, Callable[[YamlDocument, Path], Iterator[tuple[str, Any]]]] = {
    "chart-dirs": _chart_dirs,
    "chart-repos": _chart_repos,
    "excluded-charts": lambda doc, _root: iter(
        [("lint.exclude", _strings(doc, "excluded-charts"))]
    ),
    "target-branch": _target,
    "use-helmignore": lambda doc, _root: iter(
        [("lint.use_helmignore", _flag(doc, "use-helmignore"))]
    ),
    "check-version-increment": lambda doc, _root: iter(
        [("lint.version_increment", _flag(doc, "check-version-increment"))]
    ),
    "validate-maintainers": _maintainers,
}


def settings(path: Path, root: Path) -> list[tuple[str, Any]]:
    """(dotted chartship key, value) for each mapped key ct.yaml sets; others are ignored."""
    try:
        doc = load_yaml(path, CT_CONFIG)
    except ChartError as exc:
        raise ConfigError(exc.message, path=exc.path, line=exc.line) from None
    if doc.data is None:
        return []
    if not isinstance(doc.data, dict):
        raise ConfigError("must be a mapping of settings", path=path, line=1)
    found: list[tuple[str, Any]] = []
    for key, mapped in MAPPING.items():
        if key in doc.data:
            found.extend(mapped(doc, root))
    return found


def _is_set(raw: dict[str, Any], dotted: str) -> bool:
    node: Any = raw
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def adopt(raw: dict[str, Any], root: Path) -> Path | None:
    """Fill ``raw`` (chartship.yaml plus overrides) from ct.yaml where it is silent.

    Returns the ct.yaml read, if any.
    """
    lint = raw.get("lint")
    configured = lint.get("ct_config") if isinstance(lint, dict) else None
    path = find(root, configured if isinstance(configured, str) else None)
    if path is None:
        return None
    for dotted, value in settings(path, root):
        if not _is_set(raw, dotted):
            target = raw
            keys = dotted.split(".")
            for key in keys[:-1]:
                nested = target.setdefault(key, {})
                if not isinstance(nested, dict):
                    break
                target = nested
            else:
                target[keys[-1]] = value
    return path

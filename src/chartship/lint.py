"""Lint every chart and report every problem, not only the first.

Static checks (Chart.yaml, values against values.schema.json, dependency
repositories, version increment) run first; then ``helm lint --strict`` with
values.yaml and each ci/*-values.yaml. Charts are linted in parallel.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema
import referencing
import referencing.exceptions
from jsonschema_specifications import REGISTRY as _META_SCHEMAS  # type: ignore[import-untyped]

from chartship import charts as chartfiles
from chartship import dependencies, siblings, versions, yamlfiles
from chartship.charts import Chart, ChartDir
from chartship.config import Settings
from chartship.errors import ChartError, DependencyError, ToolError, VersionError
from chartship.gitrepo import Git, name_some, released_version, tag_pattern
from chartship.helm import Helm
from chartship.jsonfiles import load_json
from chartship.runner import Runner
from chartship.safetext import shown
from chartship.yamlfiles import YamlDocument, load_yaml

Severity = Literal["error", "warning"]
SCHEMA_FILE = "values.schema.json"
#: Checks whose findings mean helm must not read the chart: it would follow a link
#: out of the chart, or fetch a schema reference from a server or a file.
_NOT_FOR_HELM = frozenset({"files", "schema-ref"})
#: The most of one helm message a problem repeats.
_HELM_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class Problem:
    chart: str
    path: Path
    message: str
    check: str
    line: int | None = None
    severity: Severity = "error"


@dataclass
class LintReport:
    charts: list[str]
    problems: list[Problem] = field(default_factory=list)
    #: Charts linted though not asked for, and why: they depend on one that was.
    included: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def ok(self) -> bool:
        return self.errors == 0


@dataclass
class _Context:
    settings: Settings
    helm: Helm
    git: Git | None
    tags: list[str]
    graph: siblings.Graph
    #: Why this clone cannot tell what was released (shallow, no tags), if it cannot.
    history_gap: str | None = None


class _Collector:
    def __init__(self, chart: str) -> None:
        self.chart = chart
        self.problems: list[Problem] = []

    def add(
        self,
        path: Path,
        message: str,
        check: str,
        line: int | None = None,
        severity: Severity = "error",
    ) -> None:
        problem = Problem(self.chart, path, message, check, line, severity)
        if problem not in self.problems:
            self.problems.append(problem)


# --------------------------------------------------------------------------- Chart.yaml


def _check_chart_yaml(where: ChartDir, doc: YamlDocument, out: _Collector) -> None:
    path = where.chart_yaml
    data = doc.data
    for keys, line in doc.duplicate_keys:
        out.add(
            path,
            f"key {shown('.'.join(map(str, keys)), quote=False)} appears twice",
            "chart-yaml",
            line,
        )
    if data.get("apiVersion") != "v2":
        out.add(
            path,
            f"apiVersion must be v2, not {shown(data.get('apiVersion'))}",
            "chart-yaml",
            doc.line("apiVersion") or 1,
        )
    name = data.get("name")
    problem = chartfiles.name_problem(name)
    if problem is not None:
        out.add(path, problem, "chart-yaml", doc.line("name") or 1)
    elif name != where.directory.name:
        out.add(
            path,
            f"name {shown(name)} differs from its directory {shown(where.directory.name)}",
            "chart-yaml",
            doc.line("name"),
        )
    version = data.get("version")
    if version in (None, ""):
        out.add(path, "version is missing", "chart-yaml", 1)
    elif not versions.is_valid(version):
        try:
            versions.parse(version)
        except VersionError as exc:
            out.add(path, exc.message, "chart-yaml", doc.line("version"))
    if "kubeVersion" in data and not versions.is_valid_constraint(data["kubeVersion"]):
        out.add(
            path,
            f"kubeVersion {shown(data['kubeVersion'])} is not a valid version constraint",
            "chart-yaml",
            doc.line("kubeVersion"),
        )
    if data.get("appVersion") in (None, ""):
        out.add(path, "appVersion is missing", "chart-yaml", 1)
    if data.get("type", "application") not in ("application", "library"):
        out.add(
            path,
            f"type must be application or library, not {shown(data['type'])}",
            "chart-yaml",
            doc.line("type"),
        )
    raw_deps = data.get("dependencies")
    if raw_deps is None:
        return
    if not isinstance(raw_deps, list):
        out.add(path, "dependencies must be a list", "chart-yaml", doc.line("dependencies"))
        return
    for position, item in enumerate(raw_deps):
        dep_line = doc.line("dependencies", position)
        if not isinstance(item, dict) or not item.get("name"):
            out.add(path, f"dependency #{position + 1} has no name", "chart-yaml", dep_line)
            continue
        dep_version = item.get("version")
        if dep_version in (None, ""):
            out.add(path, f"dependency {item['name']} has no version", "chart-yaml", dep_line)
        elif not versions.is_valid_constraint(str(dep_version)):
            out.add(
                path,
                f"dependency {item['name']} version {shown(dep_version)} is not a valid "
                "version or constraint",
                "chart-yaml",
                doc.line("dependencies", position, "version"),
            )
        repo = item.get("repository")
        if isinstance(repo, str) and (repo.startswith("@") or repo.startswith("alias:")):
            out.add(
                path,
                f"dependency {item['name']} names its repository {shown(repo)} by a local "
                "alias, which needs `helm repo add`; give the repository URL instead",
                "dependencies",
                doc.line("dependencies", position, "repository"),
            )


def _check_lockstep(chart: Chart, out: _Collector) -> None:
    deps = {d.name: d for d in chart.dependencies}
    for sub in chart.settings.lockstep:
        sub_yaml = chart.directory / "charts" / sub / chartfiles.CHART_FILE
        dep = deps.get(sub)
        if dep is None:
            out.add(
                chart.chart_yaml,
                f"lockstep subchart {sub} is not among the dependencies",
                "lockstep",
                chart.doc.line("dependencies"),
            )
        elif dep.version != chart.version:
            out.add(
                chart.chart_yaml,
                f"dependency {sub} is at version {dep.version}, the chart "
                f"at {chart.version}; they move in lockstep (run bump)",
                "lockstep",
                chart.doc.line("dependencies", dep.position, "version"),
            )
        if not sub_yaml.is_file():
            out.add(chart.chart_yaml, f"lockstep subchart {sub} has no {sub_yaml}", "lockstep")
            continue
        try:
            sub_doc = load_yaml(sub_yaml, yamlfiles.CHART)
        except ChartError as exc:
            out.add(sub_yaml, exc.message, "chart-yaml", exc.line)
            continue
        sub_version = sub_doc.data.get("version") if isinstance(sub_doc.data, dict) else None
        if sub_version != chart.version:
            out.add(
                sub_yaml,
                f"version is {sub_version}, the parent chart {chart.name} is at "
                f"{chart.version}; they move in lockstep (run bump)",
                "lockstep",
                sub_doc.line("version"),
            )


def _check_local_dependencies(chart: Chart, out: _Collector) -> None:
    for dep in chart.dependencies:
        if dep.is_local:
            charts_dir = chart.directory / "charts"
            present = (charts_dir / dep.name / chartfiles.CHART_FILE).is_file() or any(
                charts_dir.glob(f"{dep.name}-*.tgz")
            )
            if not present:
                out.add(
                    chart.chart_yaml,
                    f"dependency {dep.name} declares no repository and is not in {charts_dir}",
                    "dependencies",
                    chart.doc.line("dependencies", dep.position),
                )
        elif dep.repository and dep.repository.startswith("file://"):
            target = (chart.directory / dep.repository[len("file://") :]).resolve()
            if not (target / chartfiles.CHART_FILE).is_file():
                out.add(
                    chart.chart_yaml,
                    f"dependency {dep.name}: {dep.repository} holds no chart",
                    "dependencies",
                    chart.doc.line("dependencies", dep.position, "repository"),
                )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return shown(lines[-1], _HELM_MESSAGE_CHARS, quote=False) if lines else "no output"


# --------------------------------------------------------------------------- values


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override


def values_files(directory: Path) -> list[Path]:
    """ci/*-values.yaml, the extra values files chart-testing also lints with."""
    ci = directory / "ci"
    return sorted(ci.glob("*-values.yaml")) if ci.is_dir() else []


def _error_keys(error: jsonschema.ValidationError) -> tuple[str | int, ...]:
    """Where an error is: for an unexpected key, the key itself rather than its parent."""
    keys: tuple[str | int, ...] = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        declared = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extras = [
            key
            for key in error.instance
            if key not in declared and not any(re.search(p, str(key)) for p in patterns)
        ]
        if extras:
            keys = (*keys, str(extras[0]))
    return keys


def _depth(doc: YamlDocument, keys: tuple[str | int, ...]) -> int:
    """How much of ``keys`` the document itself spells out."""
    return max((n for n in range(len(keys) + 1) if keys[:n] in doc.lines or n == 0), default=0)


_REFERENCE_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")
_ID_KEYS = ("$id", "id")


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


def _pointer(parts: Sequence[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def foreign_references(schema: Any) -> list[tuple[str, str]]:
    """(JSON pointer, reference) of every reference that leaves the schema document.

    A reference stays inside when, resolved against the base URI in force
    (``$id`` of the enclosing schemas), it names this document (``#/$defs/x``),
    a schema the document itself declares with ``$id``, or one of the JSON
    Schema meta-schemas jsonschema carries. Anything else (``http(s)://``,
    ``file:``, a relative file name) would be fetched or read from disk by
    helm and by a JSON Schema library: that is never for a chart to decide.
    """
    declared: set[str] = set()
    found: list[tuple[list[str | int], str, str]] = []
    stack: list[tuple[Any, str, list[str | int]]] = [(schema, "", [])]
    while stack:
        node, base, where = stack.pop()
        if isinstance(node, dict):
            for key in _ID_KEYS:
                if isinstance(node.get(key), str):
                    base = urllib.parse.urljoin(base, node[key])
                    declared.add(urllib.parse.urldefrag(base).url)
                    break
            for key, value in node.items():
                if key in _REFERENCE_KEYS and isinstance(value, str):
                    found.append(([*where, key], base, value))
                else:
                    stack.append((value, base, [*where, key]))
        elif isinstance(node, list):
            stack.extend((item, base, [*where, i]) for i, item in enumerate(node))
    foreign = []
    for where, base, ref in found:
        target = urllib.parse.urldefrag(urllib.parse.urljoin(base, ref)).url
        if target in ("", urllib.parse.urldefrag(base).url) or target in declared:
            continue
        if target in _META_SCHEMAS or target + "#" in _META_SCHEMAS:
            continue
        foreign.append((_pointer(where), ref))
    return sorted(foreign)


def _check_values(where: ChartDir, chart_name: str, out: _Collector) -> None:
    schema_path = where.directory / SCHEMA_FILE
    values_path = where.directory / "values.yaml"
    base_doc: YamlDocument | None = None
    if values_path.is_file():
        try:
            base_doc = load_yaml(values_path, yamlfiles.VALUES)
        except ChartError as exc:
            out.add(values_path, exc.message, "values", exc.line)
    ci_docs: list[YamlDocument] = []
    for ci_path in values_files(where.directory):
        try:
            ci_docs.append(load_yaml(ci_path, yamlfiles.VALUES))
        except ChartError as exc:
            out.add(ci_path, exc.message, "values", exc.line)
    if not schema_path.is_file():
        return
    try:
        schema = load_json(schema_path, yamlfiles.SCHEMA)
    except ChartError as exc:
        out.add(schema_path, exc.message, "schema", exc.line)
        return
    foreign = foreign_references(schema)
    for pointer, ref in foreign:
        out.add(
            schema_path,
            f"{pointer or '/'}: reference {shown(ref)} is outside the schema; references "
            f"resolve only inside {SCHEMA_FILE} (copy the definition under $defs)",
            "schema-ref",
        )
    if foreign:
        return
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        out.add(schema_path, f"not a valid JSON schema: {exc.message}", "schema")
        return
    # A reference the static check let through (a base URI it did not foresee)
    # still never reaches a server or a file: the registry refuses every retrieval.
    refusing: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
    validator = validator_cls(schema, registry=refusing)
    base = base_doc.data if base_doc is not None and base_doc.data is not None else {}
    targets: list[tuple[YamlDocument | None, Any]] = [(base_doc, base)]
    targets += [(doc, _merge(base, doc.data or {})) for doc in ci_docs]
    for doc, merged in targets:
        try:
            errors = sorted(validator.iter_errors(merged), key=lambda e: list(e.absolute_path))
        except referencing.exceptions.Unresolvable as exc:
            out.add(
                schema_path,
                f"reference {shown(str(exc))} does not resolve inside the schema",
                "schema-ref",
            )
            return
        except RecursionError:
            out.add(schema_path, "references loop without end", "schema")
            return
        for error in errors:
            keys = _error_keys(error)
            dotted = ".".join(str(k) for k in keys) or "(top level)"
            # Blame the file that sets the offending key (or the most of its path).
            blamed = base_doc
            if doc is not None and (
                base_doc is None or _depth(doc, keys) >= _depth(base_doc, keys)
            ):
                blamed = doc
            path = blamed.path if blamed is not None else values_path
            line = blamed.line(*keys) if blamed is not None else None
            out.add(path, f"{dotted}: {error.message} (values.schema.json)", "schema", line)


# --------------------------------------------------------------------------- version increment


def _check_increment(chart: Chart, ctx: _Context, out: _Collector) -> None:
    if ctx.git is None or not ctx.settings.lint.version_increment:
        return
    if versions.is_placeholder(chart.version) or not versions.is_valid(chart.version):
        # An unstamped chart is stamped at release time; packaging refuses it.
        return
    if ctx.history_gap is not None:
        out.add(
            chart.chart_yaml,
            f"cannot check that the version went up since the last release: "
            f"{ctx.history_gap} (or set lint.version_increment: false)",
            "version-increment",
            chart.doc.line("version"),
        )
        return
    released = released_version(ctx.tags, ctx.settings.release.tag, chart.name)
    if released is None:
        return
    if versions.parse(chart.version) > versions.parse(released.version):
        return
    changed = ctx.git.changes_since(released.tag, chart.directory)
    if changed:
        shown = name_some([_relative(p, chart.directory) for p in changed])
        out.add(
            chart.chart_yaml,
            f"the chart changed since its release {released.version} "
            f"(tag {released.tag}) but its version {chart.version} is not higher; "
            f"changed: {shown}",
            "version-increment",
            chart.doc.line("version"),
        )


def _relative(path: Path, directory: Path) -> str:
    try:
        return path.resolve().relative_to(directory.resolve()).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- helm lint

_HELM_LINE = re.compile(r"^\[(INFO|WARNING|ERROR)\]\s+(?P<rest>.*)$")
_TEMPLATE_AT = re.compile(
    r"(?:^|[\s\"(])[\w.-]+/(?P<file>(?:templates|charts)/[^:\s\")]+):(?P<line>\d+)"
)
_YAML_LINE = re.compile(r"\bline (?P<line>\d+)\b")


def _helm_messages(output: str) -> Iterator[tuple[str, str]]:
    """(level, message) per helm lint finding, continuation lines folded in.

    A finding runs from its ``[LEVEL]`` line to the next blank line; schema
    errors and helm 4's template errors span several lines.
    """
    level: str | None = None
    parts: list[str] = []
    for raw in output.splitlines():
        text = raw.strip()
        match = _HELM_LINE.match(text)
        ends = not text or match or text.startswith(("==> ", "Error: "))
        if level is not None and ends:
            yield level, " ".join(parts)
            level, parts = None, []
        if match:
            level, parts = match.group(1), [match.group("rest")]
        elif level is not None and text:
            parts.append(text)
    if level is not None:
        yield level, " ".join(parts)


def parse_helm_lint(output: str, chart: Chart | ChartDir, name: str) -> Iterator[Problem]:
    directory = chart.directory
    for level, rest in _helm_messages(output):
        if level == "INFO":
            continue
        file_part, sep, message = rest.partition(": ")
        if not sep:
            file_part, message = "", rest
        path = directory / file_part if file_part else directory
        line: int | None = None
        located = _TEMPLATE_AT.search(rest)
        if located:
            path = directory / located.group("file")
            line = int(located.group("line"))
        else:
            at = _YAML_LINE.search(message)
            if at and path.is_file():
                line = int(at.group("line"))
        # helm quotes the chart's own text (a version, a template line): kept short.
        shortened = shown(message.strip(), _HELM_MESSAGE_CHARS, quote=False)
        yield Problem(name, path, shortened, "helm-lint", line, "error")


_SCHEMA_VERDICT = ("don't meet the specifications of the schema", "- at '")


def _helm_lint(chart: Chart, built: Path, helm: Helm, out: _Collector) -> None:
    """``helm lint --strict`` of ``built`` (the chart, or its scratch copy with dependencies).

    Findings are reported against the chart's own files.
    """
    runs: list[Path | None] = [None, *values_files(chart.directory)]
    # Our own schema check names the file and line; helm's restatement adds nothing.
    schema_reported = any(p.check == "schema" for p in out.problems)
    for values in runs:
        result = helm.lint(built, values)
        output = result.output.replace(str(built), str(chart.directory))
        found = list(parse_helm_lint(output, chart, chart.name))
        for problem in found:
            if schema_reported and any(mark in problem.message for mark in _SCHEMA_VERDICT):
                continue
            message = problem.message
            if values is not None:
                message = f"{message} (with {values.relative_to(chart.directory)})"
                already = any(
                    p.message == problem.message and p.path == problem.path for p in out.problems
                )
                if already:
                    continue
            out.add(problem.path, message, problem.check, problem.line)
        if result.returncode != 0 and not found:
            out.add(chart.directory, f"helm lint failed: {_last_line(output)}", "helm-lint")


def _not_run(where: ChartDir, out: _Collector, why: str) -> None:
    """Say so whenever helm lint is skipped: a silent skip reads as a clean chart."""
    out.add(
        where.directory,
        f"helm lint --strict was not run for {where.name}: {why}",
        "helm-lint",
        severity="warning",
    )


def _check_dependencies(chart: Chart, ctx: _Context, out: _Collector) -> None:
    for finding in dependencies.check(chart, ctx.settings.root, ctx.graph):
        out.add(finding.path, finding.message, "dependencies", finding.line, finding.severity)


def _helm_lint_with_dependencies(chart: Chart, ctx: _Context, out: _Collector) -> None:
    try:
        with dependencies.prepared(chart, ctx.settings, helm=ctx.helm, graph=ctx.graph) as built:
            _helm_lint(chart, built, ctx.helm, out)
    except DependencyError as exc:
        # One error that says what to run, then the plain fact that helm lint did not run.
        line = exc.line if exc.line is not None else _dependency_line(chart, exc)
        out.add(chart.chart_yaml, exc.message, "dependencies", line)
        _not_run(chart.where, out, "its dependencies could not be put together (see above)")
    except ChartError as exc:
        out.add(exc.path or chart.chart_yaml, exc.message, "dependencies", exc.line)
        _not_run(chart.where, out, f"{_shown_name(exc.path)} is not usable (see above)")


def _shown_name(path: Path | None) -> str:
    return path.name if path is not None else chartfiles.CHART_FILE


def _dependency_line(chart: Chart, exc: ToolError) -> int | None:
    """The line of the first dependency the error names, for the annotation."""
    for dep in chart.dependencies:
        if f"dependency {dep.name} " in exc.message or f"dependency {dep.name}:" in exc.message:
            return chart.doc.line("dependencies", dep.position)
    return chart.doc.line("dependencies")


# --------------------------------------------------------------------------- driver


def _lint_one(where: ChartDir, ctx: _Context) -> list[Problem]:
    out = _Collector(where.name)
    _check_values(where, where.name, out)
    for path, message in chartfiles.escaping_files(where.directory):
        out.add(path, message, "files")
    try:
        doc = load_yaml(where.chart_yaml, yamlfiles.CHART)
    except ChartError as exc:
        out.add(where.chart_yaml, exc.message, "chart-yaml", exc.line)
        _not_run(where, out, f"its {chartfiles.CHART_FILE} cannot be read")
        return out.problems
    if not isinstance(doc.data, dict):
        out.add(where.chart_yaml, "must be a mapping", "chart-yaml", 1)
        _not_run(where, out, f"its {chartfiles.CHART_FILE} is not a mapping")
        return out.problems
    _check_chart_yaml(where, doc, out)
    if not doc.data.get("name") or doc.data.get("version") in (None, ""):
        _not_run(where, out, f"its {chartfiles.CHART_FILE} names no name or version")
        return out.problems
    chart = Chart(where, doc)
    _check_lockstep(chart, out)
    _check_local_dependencies(chart, out)
    _check_dependencies(chart, ctx, out)
    _check_increment(chart, ctx, out)
    for path, message, line in chartfiles.outside_dependencies(chart, ctx.settings.root):
        out.add(path, message, "files", line)
    if any(p.check in _NOT_FOR_HELM for p in out.problems):
        _not_run(where, out, "helm must not read it as it is (see above)")
        return out.problems
    if not _check_siblings(chart, ctx.graph, out):
        _not_run(where, out, "it is out of step with its sibling charts (see above)")
        return out.problems
    if any(dependencies.kind_of(dep) == "alias" for dep in chart.dependencies):
        _not_run(where, out, "a dependency names its repository by alias (see above)")
        return out.problems
    _helm_lint_with_dependencies(chart, ctx, out)
    return out.problems


def _check_siblings(chart: Chart, graph: siblings.Graph, out: _Collector) -> bool:
    """Whether the chart agrees with the siblings it depends on (helm would fail otherwise)."""
    if chart.name not in graph.charts:
        return True
    try:
        graph.build_order([chart])
    except ChartError as exc:
        out.add(exc.path or chart.chart_yaml, exc.message, "siblings", exc.line)
        return False
    stale = graph.stale(chart)
    for one in stale:
        out.add(one.path, one.message, "siblings", one.line)
    return not stale


def lint(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    helm: Helm | None = None,
    runner: Runner | None = None,
) -> LintReport:
    """Lint the named charts (default: all) and return every problem found."""
    runner = runner or Runner()
    helm = helm or Helm(settings.helm_binary, runner=runner)
    wheres = chartfiles.discover(settings, names)
    graph = siblings.graph(settings)
    included: dict[str, str] = {}
    if names:
        # A chart that depends on one asked for breaks with it: lint it too.
        reasons = graph.with_dependents([w.name for w in wheres])
        included = {name: why for name, why in reasons.items() if why}
        wheres = chartfiles.discover(settings, list(reasons))
    git = Git(settings.root, runner)
    use_git = settings.lint.version_increment and git.is_repository()
    tags = git.tags() if use_git else []
    patterns = [tag_pattern(settings.release.tag, w.name) for w in wheres]
    ctx = _Context(
        settings=settings,
        helm=helm,
        git=git if use_git else None,
        tags=tags,
        graph=graph,
        history_gap=(
            git.history_gap(tags, lambda name: any(p.match(name) for p in patterns))
            if use_git
            else None
        ),
    )
    helm.version  # noqa: B018  -- fail once, early, if helm is missing
    with ThreadPoolExecutor(max_workers=settings.lint.workers) as pool:
        results = list(pool.map(lambda w: _lint_one(w, ctx), wheres))
    report = LintReport(charts=[w.name for w in wheres], included=included)
    for problems in results:
        report.problems.extend(problems)
    return report

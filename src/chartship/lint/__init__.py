"""Lint every chart and report every problem, not only the first.

Static checks (Chart.yaml, values against values.schema.json, dependency
repositories, version increment) run first, chart by chart; then every
``helm lint --strict`` run of the repository (each chart with its default
values and with each ci/*-values.yaml) goes through one pool, so one chart
with many values files is as parallel as many charts. Each chart's
dependencies are put together once, for all of its runs. The default-values
runs of charts helm reads in place share helm processes: starting helm costs
more than linting a small chart.

Each problem names its rule (chartship.lint.rules): helm's own rules are
errors; the rules chartship adds have the severity the repository gives them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chartship import charts as chartfiles
from chartship import versions, yamlfiles
from chartship.channels.oci import names as oci_names
from chartship.charts import Chart, ChartDir
from chartship.errors import ChartError, DependencyError, ToolError, VersionError
from chartship.lint import rules
from chartship.lint.helm_output import last_line, parse_helm_lint, split_by_chart
from chartship.lint.model import Collector, LintReport, Problem
from chartship.lint.values import SCHEMA_FILE, check_values, coalesce, foreign_references
from chartship.lint.values import values_files as values_files
from chartship.runner import Result, Runner
from chartship.safetext import shown
from chartship.yamlfiles import YamlDocument

if TYPE_CHECKING:
    # Types only: loading the settings imports this package (for lint.rules and
    # lint.ct), so the engine's own machinery -- dependencies, siblings, helm,
    # git, the thread pool -- is imported by the lint run itself.
    from concurrent.futures import Future, ThreadPoolExecutor

    from chartship import dependencies, siblings
    from chartship.config import Settings
    from chartship.helm import Helm
    from chartship.lint import increment

__all__ = [
    "SCHEMA_FILE",
    "LintReport",
    "Problem",
    "coalesce",
    "foreign_references",
    "lint",
    "parse_helm_lint",
    "values_files",
]

#: Checks whose findings mean helm must not read the chart: it would follow a link
#: out of the chart, or fetch a schema reference from a server or a file.
_NOT_FOR_HELM = frozenset({"files", "schema-ref"})
#: The most charts whose default-values runs share one helm process.
_MOST_TOGETHER = 16


@dataclass
class _Context:
    settings: Settings
    helm: Helm
    graph: siblings.Graph
    #: Every helm lint run of the repository goes through this one pool.
    pool: ThreadPoolExecutor
    #: Repository aliases, resolved once for every chart.
    repositories: dependencies.Repositories
    history: increment.History | None = None

    def severity_of(self, chart: str) -> Callable[[str], rules.Setting]:
        own = self.settings.chart(chart).lint_rules
        return lambda rule: rules.severity(rule, self.settings.lint.rules, own)


# --------------------------------------------------------------------------- Chart.yaml


def _check_chart_yaml(where: ChartDir, doc: YamlDocument, out: Collector) -> None:
    path = where.chart_yaml
    data = doc.data
    for twice in doc.duplicate_keys:
        out.add(path, twice.describe(), "chart-yaml", twice.line)
    api_version = data.get("apiVersion")
    if api_version not in ("v1", "v2"):
        # helm's own rule: either format, nothing else.
        out.add(
            path,
            f"apiVersion must be v1 or v2, not {shown(api_version)}",
            "chart-yaml",
            doc.line("apiVersion") or 1,
        )
    elif api_version == "v1":
        out.add(
            path,
            "apiVersion is v1, helm 2's format (helm 3 and 4 still read it); v2 is current",
            "api-version-v1",
            doc.line("apiVersion"),
        )
    name = data.get("name")
    problem = chartfiles.name_problem(name)
    if problem is not None:
        out.add(path, problem, "chart-yaml", doc.line("name") or 1)
    elif name != where.directory.name:
        out.add(
            path,
            f"name {shown(name)} differs from its directory {shown(where.directory.name)}",
            "chart-name-directory",
            doc.line("name"),
        )
    version = data.get("version")
    if version in (None, ""):
        out.add(path, "version is missing", "chart-yaml", 1)
    elif not versions.is_valid(version):
        try:
            versions.parse(version)
        except VersionError as exc:
            # helm reads versions loosely (1.2, v1.2.3): only what it refuses is its rule.
            rule = "strict-semver" if versions.is_helm_version(version) else "chart-yaml"
            out.add(path, exc.message, rule, doc.line("version"))
    if "kubeVersion" in data and not versions.is_valid_constraint(data["kubeVersion"]):
        out.add(
            path,
            f"kubeVersion {shown(data['kubeVersion'])} is not a valid version constraint",
            "kube-version",
            doc.line("kubeVersion"),
        )
    if data.get("appVersion") in (None, ""):
        out.add(path, "appVersion is missing", "app-version", 1)
    _check_maintainers(doc, out)
    if data.get("type", "application") not in ("application", "library"):
        out.add(
            path,
            f"type must be application or library, not {shown(data['type'])}",
            "chart-yaml",
            doc.line("type"),
        )


def _check_declared_dependencies(chart: Chart, out: Collector) -> None:
    """The dependencies as helm reads them, named in the file that declares them."""
    path = chart.declared_file
    if chart.requirements is not None and not chart.is_v1:
        out.add(
            path,
            f"helm reads these dependencies in place of {chartfiles.CHART_FILE}'s and warns: "
            f"since apiVersion v2 they belong in {chartfiles.CHART_FILE}; move them there",
            "dependencies",
            chart.dependency_line(),
            severity="warning",
        )
    legacy_lock = chart.directory / chartfiles.REQUIREMENTS_LOCK
    if not chart.is_v1 and legacy_lock.is_file():
        out.add(
            legacy_lock,
            f"helm reads it in place of {chartfiles.LOCK_FILE} and warns: since apiVersion v2 "
            f"the lock is {chartfiles.LOCK_FILE}; remove it and run `helm dependency update`",
            "dependencies",
            severity="warning",
        )
    raw_deps = chart.raw_dependencies
    if raw_deps is None:
        return
    if not isinstance(raw_deps, list):
        out.add(path, "dependencies must be a list", "chart-yaml", chart.dependency_line())
        return
    for position, item in enumerate(raw_deps):
        dep_line = chart.dependency_line(position)
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
                chart.dependency_line(position, "version"),
            )


def _check_oci_name(where: ChartDir, doc: YamlDocument, settings: Settings, out: Collector) -> None:
    oci = settings.channels.oci
    name = doc.data.get("name")
    if oci is None or not isinstance(name, str) or chartfiles.name_problem(name) is not None:
        return
    problem = oci_names.chart_problem(name, oci_names.split(oci.repository)[1])
    if problem is not None:
        out.add(
            where.chart_yaml,
            f"channels.oci cannot hold this chart: {problem}",
            "oci-name",
            doc.line("name") or 1,
        )


def _check_maintainers(doc: YamlDocument, out: Collector) -> None:
    maintainers = doc.data.get("maintainers")
    if maintainers is None:
        return
    if not isinstance(maintainers, list):
        out.add(doc.path, "maintainers must be a list", "maintainers", doc.line("maintainers"))
        return
    for position, item in enumerate(maintainers):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            out.add(
                doc.path,
                f"maintainer #{position + 1} has no name",
                "maintainers",
                doc.line("maintainers", position),
            )


def _check_lockstep(chart: Chart, out: Collector) -> None:
    deps = {d.name: d for d in chart.dependencies}
    for sub in chart.settings.lockstep:
        sub_yaml = chart.directory / "charts" / sub / chartfiles.CHART_FILE
        dep = deps.get(sub)
        if dep is None:
            out.add(
                chart.declared_file,
                f"lockstep subchart {sub} is not among the dependencies",
                "lockstep",
                chart.dependency_line(),
            )
        elif dep.version != chart.version:
            out.add(
                chart.declared_file,
                f"dependency {sub} is at version {dep.version}, the chart "
                f"at {chart.version}; they move in lockstep (run bump)",
                "lockstep",
                chart.dependency_line(dep.position, "version"),
            )
        if not sub_yaml.is_file():
            out.add(chart.chart_yaml, f"lockstep subchart {sub} has no {sub_yaml}", "lockstep")
            continue
        sub_doc = out.load(sub_yaml, yamlfiles.CHART, "chart-yaml")
        if sub_doc is None:
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


def _check_local_dependencies(chart: Chart, out: Collector) -> None:
    for dep in chart.dependencies:
        if dep.is_local:
            charts_dir = chart.directory / "charts"
            present = (charts_dir / dep.name / chartfiles.CHART_FILE).is_file() or any(
                charts_dir.glob(f"{dep.name}-*.tgz")
            )
            if not present:
                out.add(
                    chart.declared_file,
                    f"dependency {dep.name} declares no repository and is not in {charts_dir}",
                    "dependencies",
                    chart.dependency_line(dep.position),
                )
        elif dep.repository and dep.repository.startswith("file://"):
            target = (chart.directory / dep.repository[len("file://") :]).resolve()
            if not (target / chartfiles.CHART_FILE).is_file():
                out.add(
                    chart.declared_file,
                    f"dependency {dep.name}: {dep.repository} holds no chart",
                    "dependencies",
                    chart.dependency_line(dep.position, "repository"),
                )


# --------------------------------------------------------------------------- helm lint

_SCHEMA_VERDICT = ("don't meet the specifications of the schema", "- at '")


def _in_chart(result: Result, built: Path, directory: Path) -> Result:
    """helm's output about the scratch copy, told of the chart itself."""
    return dataclasses.replace(
        result,
        stdout=result.stdout.replace(str(built), str(directory)),
        stderr=result.stderr.replace(str(built), str(directory)),
    )


_Outcome = Result | ToolError


def _run(helm: Helm, built: Path, values: Path | None) -> _Outcome:
    try:
        return helm.lint([built], values)
    except ToolError as exc:  # it did not finish in time
        return exc


def _run_together(helm: Helm, directories: Sequence[Path]) -> list[_Outcome]:
    """The default-values runs of ``directories`` in one helm process, told apart by chart.

    Starting helm costs several times what linting a small chart does, so
    this is most of what a chart's default-values run costs. When helm's
    output cannot be split by chart (or the run timed out), each chart is
    run alone, so a finding is never given to the wrong chart.
    """
    if len(directories) > 1:
        try:
            together = split_by_chart(helm.lint(directories), directories)
        except ToolError:
            together = None
        if together is not None:
            return list(together)
    return [_run(helm, directory, None) for directory in directories]


def _helm_lint(chart: Chart, built: Path, ctx: _Context, out: Collector) -> None:
    """``helm lint --strict`` of ``built`` (the chart's scratch copy with its dependencies)
    with default values and with each ci values file, all at once in the shared pool."""
    ci_files = values_files(chart.directory)
    futures: list[Future[_Outcome]] = [
        ctx.pool.submit(_run, ctx.helm, built, values) for values in [None, *ci_files]
    ]
    _report_runs(chart, built, ci_files, [future.result() for future in futures], out)


def _report_runs(
    chart: Chart,
    built: Path,
    ci_files: Sequence[Path],
    outcomes: Sequence[_Outcome],
    out: Collector,
) -> None:
    """The findings of a chart's runs (default values first, then each ci values file).

    Findings are reported against the chart's own files. A finding of the
    default values that no ci values file shares is ``default-values``: the
    one chart-testing, linting only the ci files, would miss.
    """
    runs: list[Path | None] = [None, *ci_files]
    # Our own schema check names the file and line; helm's restatement adds nothing.
    schema_reported = any(p.check == "schema" for p in out.problems)
    found: list[list[Problem]] = []
    for values, outcome in zip(runs, outcomes, strict=True):
        shown_as = values.relative_to(chart.directory) if values else "default values"
        if isinstance(outcome, ToolError):
            _not_run(chart.where, out, f"with {shown_as}: {outcome.message}")
            found.append([])
            continue
        result = _in_chart(outcome, built, chart.directory)
        parsed = list(parse_helm_lint(result, chart.directory, chart.name))
        if result.returncode != 0 and not parsed:
            why = f"helm lint failed: {last_line(result.stderr or result.stdout)}"
            parsed = [Problem(chart.name, chart.directory, why, "helm-lint")]
        found.append(
            [
                p
                for p in parsed
                if not (schema_reported and any(mark in p.message for mark in _SCHEMA_VERDICT))
            ]
        )
    with_ci = {(p.path, p.message) for problems in found[1:] for p in problems}
    for problem in found[0]:
        rule = (
            "default-values"
            if ci_files and (problem.path, problem.message) not in with_ci
            else "helm-lint"
        )
        message = (
            f"{problem.message} (with default values)"
            if rule == "default-values"
            else problem.message
        )
        out.add(problem.path, message, rule, problem.line)
    reported = {(p.path, p.message) for p in found[0]}
    for values, problems in zip(ci_files, found[1:], strict=True):
        for problem in problems:
            if (problem.path, problem.message) in reported:
                continue
            message = f"{problem.message} (with {values.relative_to(chart.directory)})"
            out.add(problem.path, message, problem.check, problem.line)


def _not_run(where: ChartDir, out: Collector, why: str) -> None:
    """Say so whenever helm lint is skipped: a silent skip reads as a clean chart."""
    out.add(
        where.directory,
        f"helm lint --strict was not run for {where.name}: {why}",
        "helm-lint",
        severity="warning",
    )


def _check_dependencies(chart: Chart, ctx: _Context, out: Collector) -> None:
    from chartship import dependencies

    for finding in dependencies.check(chart, ctx.settings.root, ctx.graph, ctx.repositories):
        out.add(finding.path, finding.message, "dependencies", finding.line, finding.severity)


@dataclass
class _Pending:
    """A chart helm lints in its own directory, its runs still to be made.

    Its default-values run can share one helm process with other charts'
    (:class:`_Defaults`); a values file applies to every chart of a process,
    so each ci values file has a run of its own.
    """

    chart: Chart
    out: Collector
    ci_files: list[Path]
    ci_runs: list[Future[_Outcome]] = dataclasses.field(default_factory=list)
    default: tuple[Future[list[_Outcome]], int] | None = None

    def report(self) -> list[Problem]:
        assert self.default is not None
        together, position = self.default
        outcomes = [together.result()[position], *(run.result() for run in self.ci_runs)]
        _report_runs(self.chart, self.chart.directory, self.ci_files, outcomes, self.out)
        return self.out.problems


class _Defaults:
    """Gathers charts' default-values runs into helm processes of up to ``size`` charts."""

    def __init__(self, ctx: _Context, size: int) -> None:
        self.ctx = ctx
        self.size = size
        self.waiting: list[_Pending] = []

    def add(self, pending: _Pending) -> None:
        self.waiting.append(pending)
        if len(self.waiting) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.waiting:
            return
        group, self.waiting = self.waiting, []
        directories = [p.chart.directory for p in group]
        together = self.ctx.pool.submit(_run_together, self.ctx.helm, directories)
        for position, pending in enumerate(group):
            pending.default = (together, position)


def _helm_lint_with_dependencies(chart: Chart, ctx: _Context, out: Collector) -> _Pending | None:
    from chartship import dependencies

    try:
        with dependencies.prepared(
            chart, ctx.settings, helm=ctx.helm, graph=ctx.graph, repositories=ctx.repositories
        ) as built:
            if built == chart.directory:
                # Nothing was put together: the runs need nothing kept alive, so they wait.
                return _Pending(chart, out, values_files(chart.directory))
            _helm_lint(chart, built, ctx, out)
    except DependencyError as exc:
        # One error that says what to run, then the plain fact that helm lint did not run.
        line = exc.line if exc.line is not None else _dependency_line(chart, exc)
        out.add(exc.path or chart.declared_file, exc.message, "dependencies", line)
        _not_run(chart.where, out, "its dependencies could not be put together (see above)")
    except ChartError as exc:
        out.add(exc.path or chart.chart_yaml, exc.message, "dependencies", exc.line)
        _not_run(chart.where, out, f"{_shown_name(exc.path)} is not usable (see above)")
    return None


def _shown_name(path: Path | None) -> str:
    return path.name if path is not None else chartfiles.CHART_FILE


def _dependency_line(chart: Chart, exc: ToolError) -> int | None:
    """The line of the first dependency the error names, for the annotation."""
    for dep in chart.dependencies:
        if f"dependency {dep.name} " in exc.message or f"dependency {dep.name}:" in exc.message:
            return chart.dependency_line(dep.position)
    return chart.dependency_line()


# --------------------------------------------------------------------------- driver


def _lint_one(where: ChartDir, ctx: _Context) -> list[Problem] | _Pending:
    from chartship.lint import increment

    out = Collector(where.name, ctx.severity_of(where.name))
    check_values(where, out)
    for path, message in chartfiles.escaping_files(where.directory):
        out.add(path, message, "files")
    try:
        doc = chartfiles.read_document(where.chart_yaml)
    except ChartError as exc:
        out.add(where.chart_yaml, exc.message, "chart-yaml", exc.line)
        _not_run(where, out, f"its {chartfiles.CHART_FILE} cannot be read")
        return out.problems
    if not isinstance(doc.data, dict):
        out.add(where.chart_yaml, "must be a mapping", "chart-yaml", 1)
        _not_run(where, out, f"its {chartfiles.CHART_FILE} is not a mapping")
        return out.problems
    _check_chart_yaml(where, doc, out)
    _check_oci_name(where, doc, ctx.settings, out)
    if not doc.data.get("name") or doc.data.get("version") in (None, ""):
        _not_run(where, out, f"its {chartfiles.CHART_FILE} names no name or version")
        return out.problems
    try:
        requirements = chartfiles.read_requirements(where.directory)
    except ChartError as exc:
        out.add(exc.path or where.directory, exc.message, "chart-yaml", exc.line)
        _not_run(where, out, f"its {chartfiles.REQUIREMENTS_FILE} cannot be read")
        return out.problems
    chart = Chart(where, doc, requirements)
    _check_declared_dependencies(chart, out)
    _check_lockstep(chart, out)
    _check_local_dependencies(chart, out)
    _check_dependencies(chart, ctx, out)
    if ctx.history is not None:
        increment.check(chart, ctx.history, out)
    for path, message, line in chartfiles.outside_dependencies(chart, ctx.settings.root):
        out.add(path, message, "files", line)
    if any(p.check in _NOT_FOR_HELM for p in out.problems):
        _not_run(where, out, "helm must not read it as it is (see above)")
        return out.problems
    if not _check_siblings(chart, ctx.graph, out):
        _not_run(where, out, "it is out of step with its sibling charts (see above)")
        return out.problems
    if ctx.repositories.unresolved(chart):
        _not_run(where, out, "a dependency's repository alias is not resolved (see above)")
        return out.problems
    pending = _helm_lint_with_dependencies(chart, ctx, out)
    return out.problems if pending is None else pending


def _check_siblings(chart: Chart, graph: siblings.Graph, out: Collector) -> bool:
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
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from chartship import dependencies, siblings
    from chartship.helm import Helm

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
    excluded: list[str] = []
    if not names and settings.lint.exclude:
        excluded = [w.name for w in wheres if w.name in settings.lint.exclude]
        wheres = [w for w in wheres if w.name not in settings.lint.exclude]
    helm.require_supported()  # once, early: a missing or unsupported helm before any check
    history = _history(settings, runner, wheres)
    workers = settings.lint.workers
    # Charts wait on their helm runs, never the other way round: two pools cannot deadlock.
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="helm-lint") as runs,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chart") as charts,
    ):
        ctx = _Context(
            settings=settings,
            helm=helm,
            graph=graph,
            pool=runs,
            repositories=dependencies.Repositories(settings, helm),
            history=history,
        )
        checked = {charts.submit(_lint_one, w, ctx): n for n, w in enumerate(wheres)}
        outcomes: list[list[Problem] | _Pending] = [[] for _ in wheres]
        # Enough default-values runs per helm process to save most start-ups,
        # few enough that every worker gets some.
        defaults = _Defaults(ctx, size=min(_MOST_TOGETHER, -(-len(wheres) // workers)))
        for done in as_completed(checked):
            outcome = outcomes[checked[done]] = done.result()
            if isinstance(outcome, _Pending):
                outcome.ci_runs = [
                    runs.submit(_run, helm, outcome.chart.directory, values)
                    for values in outcome.ci_files
                ]
                defaults.add(outcome)
        defaults.flush()
        results = [o.report() if isinstance(o, _Pending) else o for o in outcomes]
    report = LintReport(
        charts=[w.name for w in wheres],
        included=included,
        excluded=excluded,
        strict=settings.lint.strict,
    )
    for problems in results:
        report.problems.extend(problems)
    if history is not None and history.unchecked:
        report.notes.append(
            f"version-increment was not checked for {', '.join(sorted(history.unchecked))}: "
            "no release tag, and no lint.since (`--since REF`) to compare with"
        )
    return report


def _history(
    settings: Settings, runner: Runner, wheres: Sequence[ChartDir]
) -> increment.History | None:
    """What version-increment compares with, or None when it is not checked."""
    from chartship.gitrepo import Git, tag_pattern
    from chartship.lint import increment

    git = Git(settings.root, runner)
    checkout = git.checkout() if settings.lint.version_increment else None
    if checkout is None:
        return None
    since = settings.lint.since
    tags = list(checkout.tags)
    history = increment.History(
        git=git,
        tags=tags,
        tag_template=settings.release.tag,
        use_helmignore=settings.lint.use_helmignore,
        since=since,
    )
    if since is None:
        patterns = [tag_pattern(settings.release.tag, w.name) for w in wheres]
        history.gap = git.history_gap(checkout, lambda name: any(p.matches(name) for p in patterns))
    return history

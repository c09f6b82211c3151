"""Machine-readable output: one JSON document per command, and SARIF for lint.

``--output json`` turns what :mod:`chartship.render` prints for people into
one document on stdout, built from the same result objects (the channels'
:class:`~chartship.channels.contract.Outcome` above all). Its shape is
``schemas/output-v1.json`` in this package; ``schema_version`` changes only
when a field is removed or changes meaning, never when one is added.

A document is written once, when the command has finished or failed, so a
script reads exactly one JSON value whatever happened: a failure carries its
exit status and error next to the part of the result that was reached (a
release that did not complete still lists every channel's outcome).
Progress lines and the error message also go to stderr, as in text mode.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chartship import __version__
from chartship import github_actions as actions
from chartship.errors import ChartshipError, UsageError
from chartship.exits import error_text

if TYPE_CHECKING:
    # Types only: the command line parses its flags before the channels load.
    from chartship.channels.classic.pages import FileUpdate, PagesResult
    from chartship.channels.contract import Key, Outcome
    from chartship.channels.github.channel import ReleaseReport
    from chartship.channels.github.pulls import PullRequest
    from chartship.channels.oci.channel import PushReport
    from chartship.lint import LintReport, Problem
    from chartship.migrate import backfill as backfill_mod
    from chartship.migrate import inventory as inventory_mod
    from chartship.migrate import phases
    from chartship.migrate.decisions import Decision
    from chartship.release.pipeline import Plan, ReleaseResult
    from chartship.release.selection import Selection

#: Bumped only when a field goes away or changes meaning.
SCHEMA_VERSION = 1
#: What ``--output`` takes; ``sarif`` only for lint.
FORMATS = ("text", "json", "sarif")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/chartship/chartship"


def schema() -> dict[str, Any]:
    """The JSON Schema every ``--output json`` document satisfies."""
    # importlib.resources loads tempfile and zip support: only a schema check needs them.
    from importlib import resources

    text = resources.files("chartship").joinpath("schemas/output-v1.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class Output:
    """Where a command's result goes: lines for people, or one document at the end.

    Commands hand every result to :meth:`show`; in text mode it is printed at
    once, otherwise kept for :meth:`finish`, which the front end calls with the
    exit status once the command returned or raised.
    """

    def __init__(
        self, format: str = "text", stream: TextIO | None = None, command: str = ""
    ) -> None:
        if format not in FORMATS:
            raise UsageError(f"--output must be one of {', '.join(FORMATS)}, not {format!r}")
        if format == "sarif" and command != "lint":
            raise UsageError(f"--output sarif is for lint only; {command} takes text or json")
        self.format = format
        self.stream = stream or sys.stdout
        self.command = command
        self.result: dict[str, Any] | None = None
        self._lint: tuple[LintReport, Path] | None = None

    @property
    def text(self) -> bool:
        return self.format == "text"

    @property
    def progress(self) -> TextIO:
        """Where commentary goes: stdout for people, else stderr (stdout is the document)."""
        return self.stream if self.text else sys.stderr

    def show(self, text: Callable[[TextIO], object], data: Callable[[], Mapping[str, Any]]) -> None:
        """Print ``text`` now, or keep ``data()`` for the document."""
        if self.text:
            text(self.stream)
        else:
            self.result = {**(self.result or {}), **data()}

    def show_lint(self, report: LintReport, root: Path, text: Callable[[TextIO], object]) -> None:
        self._lint = (report, root)
        self.show(text, lambda: {"lint": lint_doc(report, root)})

    def document(self, status: int = 0, error: BaseException | None = None) -> dict[str, Any]:
        if self.format == "sarif":
            return sarif_log(self._lint, status, error)
        return {
            "schema_version": SCHEMA_VERSION,
            "chartship_version": __version__,
            "command": self.command,
            "ok": status == 0,
            "exit_status": status,
            "result": self.result,
            "error": None if error is None else error_doc(error),
        }

    def finish(self, status: int = 0, error: BaseException | None = None) -> None:
        """Write the document (nothing more in text mode: the lines are out already)."""
        if not self.text:
            json.dump(self.document(status, error), self.stream, indent=2)
            self.stream.write("\n")
            self.stream.flush()


def display_path(path: Path, root: Path) -> str:
    """A path as every output shows it: relative to ``root`` where it is under it."""
    # The last part is not resolved: a link is shown where it is, not where it points.
    try:
        return str((path.parent.resolve() / path.name).relative_to(root.resolve()))
    except ValueError:
        return str(path)


def error_doc(error: BaseException) -> dict[str, Any]:
    kind = type(error).__name__ if isinstance(error, ChartshipError) else "InternalError"
    return {"type": kind, "message": error_text(error)}


# --------------------------------------------------------------------------- lint


def _severity(problem: Problem) -> str:
    # Any other word a rule may one day give is still a problem that fails lint.
    severity = getattr(problem, "severity", "error")
    return severity if severity in ("error", "warning") else "error"


def problem_doc(problem: Problem, root: Path) -> dict[str, Any]:
    return {
        "chart": problem.chart,
        "path": display_path(problem.path, root),
        "line": problem.line,
        "severity": _severity(problem),
        "rule": problem.check,
        "message": problem.message,
    }


def lint_doc(report: LintReport, root: Path) -> dict[str, Any]:
    problems = [problem_doc(p, root) for p in report.problems]
    return {
        "charts": list(report.charts),
        "included": dict(report.included),
        "ok": report.ok,
        "errors": sum(p["severity"] == "error" for p in problems),
        "warnings": sum(p["severity"] == "warning" for p in problems),
        "problems": problems,
    }


def _sarif_location(problem: Problem, root: Path) -> dict[str, Any]:
    shown = display_path(problem.path, root)
    artifact: dict[str, Any] = (
        {"uri": problem.path.as_uri()}
        if Path(shown).is_absolute()
        else {"uri": Path(shown).as_posix(), "uriBaseId": "%SRCROOT%"}
    )
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if problem.line is not None and problem.line >= 1:
        physical["region"] = {"startLine": problem.line}
    return {"physicalLocation": physical}


def sarif_log(
    linted: tuple[LintReport, Path] | None, status: int, error: BaseException | None
) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one lint run: rule ids are chartship's check names."""
    problems = list(linted[0].problems) if linted else []
    rules = sorted({p.check for p in problems})
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "chartship",
                "version": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [{"id": rule} for rule in rules],
            }
        },
        "results": [
            {
                "ruleId": p.check,
                "ruleIndex": rules.index(p.check),
                "level": _severity(p),
                "message": {"text": p.message},
                "locations": [_sarif_location(p, linted[1])] if linted else [],
            }
            for p in problems
        ],
    }
    if linted:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": linted[1].resolve().as_uri() + "/"}}
    # Problems found are a successful run; only an error that stopped lint is not.
    invocation: dict[str, Any] = {
        "executionSuccessful": error is None or linted is not None,
        "exitCode": status,
    }
    if error is not None and linted is None:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": error_text(error)}}
        ]
    run["invocations"] = [invocation]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


# --------------------------------------------------------------------------- channels


def outcome_doc(key: Key, outcome: Outcome) -> dict[str, Any]:
    """One channel's answer for one chart version, as every document gives it."""
    return {
        "chart": key[0],
        "version": key[1],
        "status": outcome.status.value,
        "ok": outcome.ok,
        "detail": outcome.detail,
        "reference": outcome.reference,
        "manifest_digest": outcome.manifest_digest,
        "download_url": outcome.download_url,
    }


def outcomes_doc(outcomes: Mapping[Key, Outcome]) -> list[dict[str, Any]]:
    return [outcome_doc(key, outcome) for key, outcome in outcomes.items()]


def push_doc(report: PushReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "repository": report.target.url,
        "ok": report.ok,
        "versions": outcomes_doc(report.results()),
        "metadata": [
            {
                "chart": m.chart,
                "reference": m.reference,
                "status": m.status.value,
                "detail": m.message,
            }
            for m in report.metadata
        ],
        "warnings": list(report.warnings),
    }


def github_release_doc(report: ReleaseReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "repository": report.repository,
        "ok": report.ok,
        "versions": outcomes_doc(report.results()),
        "releases": [
            {
                "chart": o.artifact.chart,
                "version": o.artifact.version,
                "tag": o.tag,
                "status": o.status,
                "detail": o.message,
                "html_url": o.html_url,
                "assets": [
                    {
                        "name": a.name,
                        "status": a.status.value,
                        "detail": a.message,
                        "download_url": a.download_url,
                    }
                    for a in o.assets
                ],
            }
            for o in report.outcomes
        ],
    }


def _keys(keys: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"chart": chart, "version": version} for chart, version in keys]


def index_doc(
    result: PagesResult,
    outcomes: Mapping[Key, Outcome],
    urls: Mapping[Key, str],
    sha256s: Mapping[Key, str],
    pull_request: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "dry_run": result.dry_run,
        "branch": result.branch,
        "base_branch": result.base_branch,
        "remote": result.remote,
        "changed": result.changed,
        "commit": result.commit,
        "summary": result.summary,
        "added": [
            {"chart": c, "version": v, "url": urls[(c, v)], "sha256": sha256s[(c, v)]}
            for c, v in result.added
        ],
        "present": _keys(result.present),
        "archives": list(result.archives),
        "versions": outcomes_doc(outcomes),
        "pull_request": None if pull_request is None else dict(pull_request),
    }


def open_pull_doc(pull: PullRequest) -> dict[str, Any]:
    """``index --pull-request`` that found its pull request open: nothing pushed."""
    return {
        "dry_run": False,
        "branch": pull.head,
        "base_branch": pull.base,
        "remote": "",
        "changed": False,
        "commit": None,
        "summary": f"{pull.summary}; nothing pushed",
        "added": [],
        "present": [],
        "archives": [],
        "versions": [],
        "pull_request": pull.as_json(),
    }


# --------------------------------------------------------------------------- release, matrix


def selection_doc(selection: Selection) -> list[dict[str, Any]]:
    return [
        {"chart": c.chart, "version": c.version, "selected": c.selected, "reason": c.reason}
        for c in selection.candidates
    ]


def plan_doc(plan: Plan) -> dict[str, Any]:
    return {
        "tag": plan.selection.tag,
        "dry_run": plan.dry_run,
        "channels": list(plan.channels),
        "candidates": selection_doc(plan.selection),
    }


def release_doc(result: ReleaseResult, root: Path) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "changed": result.changed,
        "failed_channels": list(result.failed_channels()),
        "rows": [
            {
                "chart": row.artifact.chart,
                "version": row.artifact.version,
                "archive": display_path(row.artifact.archive, root),
                "sha256": row.sha256,
                "adopted_from": row.adopted_from,
                "ok": row.ok,
                "channels": {
                    name: outcome_doc((row.artifact.chart, row.artifact.version), cell)
                    for name, cell in row.cells.items()
                },
            }
            for row in result.rows
        ],
        "warnings": list(result.warnings),
    }


class ReleaseDocument:
    """The release's reporter for ``--output json``: each step into the document.

    Under GitHub Actions the job summary and step outputs are written as in
    text mode: a workflow reads them whatever the log shows.
    """

    def __init__(self, output: Output, environ: Mapping[str, str], root: Path) -> None:
        self.output = output
        self.environ = environ
        self.root = root

    def _keep(self, data: Callable[[], Mapping[str, Any]]) -> None:
        self.output.show(lambda _stream: None, data)

    def selection(self, plan: Plan) -> None:
        self._keep(lambda: plan_doc(plan))

    def lint(self, report: LintReport) -> None:
        self._keep(lambda: {"lint": lint_doc(report, self.root)})

    def result(self, result: ReleaseResult) -> None:
        from chartship import render

        self._keep(lambda: release_doc(result, self.root))
        actions.append_summary(render.release_markdown(result), self.environ)
        actions.set_outputs(render.release_outputs(result), self.environ)


def matrix_doc(selection: Selection, matrix: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "matrix": dict(matrix),
        "count": len(selection.chosen),
        "tag": selection.tag,
        "candidates": selection_doc(selection),
    }


# --------------------------------------------------------------------------- migrate


def inventory_doc(found: inventory_mod.Inventory, reports: Sequence[str]) -> dict[str, Any]:
    return {"inventory": found.as_json(), "reports": list(reports)}


def backfill_doc(report: backfill_mod.BackfillReport, reports: Sequence[str]) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "summary": report.summary,
        "already": report.already,
        "copies": [outcome_doc((c.chart, c.version), c.result) for c in report.copies],
        **inventory_doc(report.inventory, reports),
    }


def parity_doc(result: phases.Parity) -> dict[str, Any]:
    return {
        "clean": result.clean,
        "counts": result.inventory.counts(),
        "drift": [
            {"chart": r.chart, "version": r.version, "drift": why} for r, why in result.drift
        ],
        "anomalies": _keys(r.key for r in result.inventory.anomalies),
        "decisions": [decision_fields(d) for d in result.decisions],
    }


def decision_fields(decision: Decision) -> dict[str, Any]:
    return {
        "chart": decision.chart,
        "version": decision.version,
        "as": decision.action,
        "reason": decision.reason,
        "anomalies": list(decision.anomalies),
        "sha256": decision.sha256,
    }


def decision_doc(decision: Decision, path: str, dry_run: bool) -> dict[str, Any]:
    return {"dry_run": dry_run, "file": path, "decision": decision_fields(decision)}


def repair_doc(report: backfill_mod.RepairReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "entries": [
            {
                "chart": e.chart,
                "version": e.version,
                "sha256": e.sha256,
                "url": e.url,
                "created": e.created,
            }
            for e in report.entries
        ],
        "unread": [
            {"chart": r.chart, "version": r.version, "error": r.download_error}
            for r in report.unread
        ],
        "commit": report.result.commit if report.result else None,
    }


def file_update_doc(update: FileUpdate, notice: str | None = None) -> dict[str, Any]:
    return {
        "dry_run": update.dry_run,
        "branch": update.branch,
        "path": update.path,
        "changed": update.changed,
        "commit": update.commit,
        "summary": update.summary,
        "notice": notice,
    }


def phase_doc(before: str, to: str, dry_run: bool, lines: Sequence[str]) -> dict[str, Any]:
    return {
        "from": before,
        "to": to,
        "dry_run": dry_run,
        "changed": before != to and not dry_run,
        "messages": list(lines),
    }

"""Everything chartship shows people: one function per result, and the release reporter.

The commands in :mod:`chartship.commands` call the core and hand its results
here; the core itself prints nothing. Lines for people go to the stream a
front end passes (stdout); under GitHub Actions the annotations go there too,
and the job summary and step outputs to the files the runner names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from chartship import github_actions as actions
from chartship.channels.contract import BEYOND_REPAIR_ADVICE, Status
from chartship.github_actions import in_github_actions
from chartship.output import display_path as display_path
from chartship.release import pipeline
from chartship.safetext import redact_urls

if TYPE_CHECKING:
    # Types only: PyGithub is imported by the GitHub commands themselves, not by
    # their printing, and a release with nothing to do loads neither the lint
    # engine, packaging, bump nor the migration.
    from chartship import bump as bump_mod
    from chartship import package as package_mod
    from chartship.channels.classic.pages import PagesResult
    from chartship.channels.github.channel import ReleaseReport
    from chartship.channels.github.pulls import PullRequest
    from chartship.channels.oci.channel import PushReport
    from chartship.lint import LintReport
    from chartship.migrate import backfill as backfill_mod
    from chartship.release.pipeline import Plan, ReleaseResult

# --------------------------------------------------------------------------- bump, package


def print_bump(
    results: Sequence[bump_mod.BumpResult], root: Path, out: TextIO, *, dry_run: bool
) -> None:
    verb = "would set" if dry_run else "set"
    for result in results:
        # A chart not asked for says which sibling brought it in.
        why = f" ({result.because})" if result.because else ""
        if not result.edits and not result.lock_planned:
            if result.because:
                print(f"{result.chart}: {result.because}; nothing to change", file=out)
            else:
                print(f"{result.chart}: already at {result.version}; nothing to change", file=out)
        for edit in result.edits:
            where = display_path(edit.path, root)
            print(
                f"{result.chart}: {verb} {where} {edit.key}: {edit.old} -> {edit.new}{why}",
                file=out,
            )
        if result.lock_refreshed:
            print(f"{result.chart}: refreshed {result.lock_name}{why}", file=out)
        elif result.lock_planned and dry_run:
            print(f"{result.chart}: would refresh {result.lock_name}{why}", file=out)
        for note in result.notes:
            print(f"{result.chart}: {note}", file=out)


def print_packaged(results: Sequence[package_mod.Packaged], root: Path, out: TextIO) -> None:
    for item in results:
        where = display_path(item.archive, root)
        extra = f" (+ {item.provenance.name})" if item.provenance else ""
        # The notice names the archive already; it replaces the plain "packaged <path>".
        what = item.notice or f"{item.outcome} {where}"
        print(f"{item.chart} {item.version}: {what} sha256:{item.sha256}{extra}", file=out)


# --------------------------------------------------------------------------- channels


def print_push(report: PushReport, out: TextIO) -> None:
    dry_run = report.dry_run
    title = "dry run, nothing pushed:" if dry_run else "channel"
    print(f"OCI: {title} {report.target.url}", file=out)
    for outcome in report.outcomes:
        art = outcome.item.artifact
        digest = f" manifest {outcome.manifest_digest}" if outcome.manifest_digest else ""
        verb: str = "would push" if outcome.status == "planned" else outcome.status.value
        if outcome.status == "planned" and outcome.item.action == "replace":
            verb = "would REPLACE"
        print(
            f"  {art.chart} {art.version}: {verb} {outcome.item.reference} "
            f"({outcome.message}){digest}",
            file=out,
        )
    for meta in report.metadata:
        print(
            f"  {meta.chart}: Artifact Hub metadata {meta.status.value} {meta.reference} "
            f"({meta.message})",
            file=out,
        )
    for warning in report.warnings:
        print(f"OCI: warning: {warning}", file=out)
    counts = ", ".join(
        f"{report.count(s)} {s}"
        for s in ("pushed", "replaced", "skipped", "planned", "refused", "failed")
        if report.count(s)
    )
    changed = report.count("pushed") + report.count("replaced")
    quiet = "" if dry_run or changed else "; nothing changed"
    print(f"OCI: {counts or 'nothing to do'}{quiet}", file=out)


def print_github_releases(report: ReleaseReport, out: TextIO) -> None:
    dry_run = report.dry_run
    title = "dry run, nothing changed:" if dry_run else "releases of"
    print(f"GitHub: {title} {report.repository}", file=out)
    for outcome in report.outcomes:
        art = outcome.artifact
        where = f" {outcome.html_url}" if outcome.html_url else ""
        print(
            f"  {art.chart} {art.version}: release {outcome.tag} {outcome.status} "
            f"({outcome.message}){where}",
            file=out,
        )
        for asset in outcome.assets:
            print(f"    {asset.name}: {asset.status.value} ({asset.message})", file=out)
    changed = (
        sum(o.status == "created" for o in report.outcomes)
        + report.assets("uploaded")
        + report.assets("replaced")
    )
    quiet = "" if dry_run or changed else "; nothing changed"
    print(f"GitHub: {len(report.outcomes)} release(s){quiet}", file=out)


def print_index(
    result: PagesResult,
    urls: Mapping[tuple[str, str], str],
    sha256s: Mapping[tuple[str, str], str],
    out: TextIO,
    pull_request: PullRequest | None = None,
) -> None:
    print(f"index: {result.summary}", file=out)
    for key in result.added:
        chart, version = key
        print(f"  {chart} {version}: {urls[key]} (sha256 {sha256s[key]})", file=out)
    if pull_request is not None:
        print(f"index: {pull_request.summary}", file=out)


# --------------------------------------------------------------------------- migrate


def print_backfill(report: backfill_mod.BackfillReport, out: TextIO) -> None:
    """What a backfill would copy, what failed, and every anomaly it left alone."""
    if report.dry_run:
        for copy in report.copies:
            print(f"  {copy.chart} {copy.version}: would push {copy.reference}", file=out)
    for copy in report.failed:
        print(f"  {copy.chart} {copy.version}: FAILED {copy.message}", file=out)
    for row in report.left_alone:
        if row.decision is not None and not row.undecided:
            print(f"  {row.chart} {row.version}: not copied, as decided: {row.decision.reason}",
                  file=out)  # fmt: skip
            continue
        for anomaly in row.anomalies:
            print(
                f"  {row.chart} {row.version}: not copied, {anomaly.kind}: {anomaly.message}; "
                f"{anomaly.advice}",
                file=out,
            )


def print_repair(report: backfill_mod.RepairReport, out: TextIO) -> None:
    """Each entry repair adds (or would add) to index.yaml, and what it could not read."""
    verb = "would add" if report.dry_run else "adds"
    for entry in report.entries:
        print(
            f"  {entry.chart} {entry.version}: {verb} digest {entry.sha256}, "
            f"created {entry.created or '(now)'}, url {redact_urls(entry.url)}",
            file=out,
        )
    for row in report.unread:
        print(f"  {row.chart} {row.version}: FAILED not read: {row.download_error}", file=out)
    if report.result is not None:
        print(f"repair: {report.result.summary}", file=out)
    else:
        print("repair: no gap: every released version is in index.yaml", file=out)


# --------------------------------------------------------------------------- release


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def release_outputs(result: ReleaseResult) -> dict[str, str]:
    """The GitHub Actions step outputs of a release."""
    released = []
    values: dict[str, str] = {}
    for row in result.rows:
        art = row.artifact
        one = {
            "chart": art.chart,
            "version": art.version,
            "sha256": row.sha256 or "",
            "oci_reference": row.oci_reference or "",
            "manifest_digest": row.manifest_digest or "",
            "download_url": row.download_url or "",
            "ok": row.ok,
        }
        released.append(one)
        values[f"{art.chart}-version"] = art.version
        values[f"{art.chart}-sha256"] = row.sha256 or ""
        if row.oci_reference:
            values[f"{art.chart}-oci-reference"] = row.oci_reference
        if row.manifest_digest:
            values[f"{art.chart}-manifest-digest"] = row.manifest_digest
    values["released"] = json.dumps(released, separators=(",", ":"))
    values["charts"] = json.dumps([r.artifact.chart for r in result.rows])
    # By chart name, for a workflow expression: fromJSON(steps.x.outputs.versions).mychart
    # (a step's outputs are declared up front, so per-chart names cannot be).
    for name, field in (
        ("versions", "version"),
        ("sha256s", "sha256"),
        ("oci-references", "oci_reference"),
        ("manifest-digests", "manifest_digest"),
    ):
        by_chart = {one["chart"]: one[field] for one in released if one[field]}
        values[name] = json.dumps(by_chart, separators=(",", ":"))
    values["changed"] = "true" if result.changed else "false"
    values["ok"] = "true" if result.ok else "false"
    return values


def release_markdown(result: ReleaseResult) -> str:
    """The GitHub Actions job summary of a release."""
    title = "chartship release" + (" (dry run)" if result.plan.dry_run else "")
    if not result.rows:
        return f"### {title}\n\nNothing to release.\n"
    parts = [f"### {title}\n", actions.markdown_table(pipeline.summary_rows(result))]
    problems = result.problems()
    if problems:
        parts.append("\n**Not complete:**\n")
        for row, channel, cell in problems:
            line = (
                f"{row.artifact.chart} {row.artifact.version}, "
                f"{pipeline.TITLES[channel]}: {cell.status.value}: {cell.detail}"
            )
            parts.append(f"- {actions.inline(line)}")
    for warning in result.warnings:
        parts.append(f"\n> [!WARNING]\n> {actions.inline(warning)}")
    return "\n".join(parts) + "\n"


class ReleaseText:
    """The release's reporter for people, with GitHub Actions' summary and outputs."""

    def __init__(self, out: TextIO, environ: Mapping[str, str], root: Path) -> None:
        self.out = out
        self.environ = environ
        self.root = root

    def _print(self, line: str = "") -> None:
        print(line, file=self.out)

    def selection(self, plan: Plan) -> None:
        selection = plan.selection
        if selection.tag:
            what = f"tag {selection.tag}"
        else:
            # Says how many were chosen: "charts changed since ..." alone read as a claim
            # that some had, above a list of charts all left out.
            chosen = sum(1 for one in selection.candidates if one.selected)
            what = (
                f"{chosen} of {len(selection.candidates)} chart(s) to release (new, changed "
                "since their release, or missing from a channel)"
            )
        channels = ", ".join(pipeline.TITLES[c] for c in plan.channels)
        dry = "dry run, nothing will change; " if plan.dry_run else ""
        self._print(f"release: {dry}{what}; channels: {channels}")
        for one in selection.candidates:
            verdict = "release" if one.selected else "left out"
            self._print(f"  {one.chart} {one.version}: {verdict} ({one.reason})")

    def lint(self, report: LintReport) -> None:
        from chartship.lint.text import print_lint_report

        print_lint_report(report, self.root, self.out, self.environ)

    def _rows(self, result: ReleaseResult) -> None:
        for row in result.rows:
            art = row.artifact
            dry_run = result.plan.dry_run
            where = display_path(art.archive, self.root) if not dry_run else art.archive.name
            adopted = (
                f" (the bytes already published at {row.adopted_from})" if row.adopted_from else ""
            )
            if row.sha256 is None:
                # A dry run's fresh build is not what the real run publishes (helm 3
                # archives differ on every build): no digest is better than a wrong one.
                self._print(
                    f"{art.chart} {art.version}: {where} yet to be built; its sha256 is known "
                    "once the release packages it"
                )
            else:
                self._print(f"{art.chart} {art.version}: {where} sha256:{row.sha256}{adopted}")
            for channel in result.plan.channels:
                cell = row.cells[channel]
                verb = "would publish" if cell.status == "planned" else cell.status.value
                self._print(f"  {pipeline.TITLES[channel]}: {verb}: {cell.detail}")

    def result(self, result: ReleaseResult) -> None:
        if not result.plan.selection.chosen:
            self._print("release: nothing to release")
            actions.append_summary(release_markdown(result), self.environ)
            actions.set_outputs(release_outputs(result), self.environ)
            return
        self._rows(result)
        if result.rows:
            self._print()
            for line in aligned(pipeline.summary_rows(result)):
                self._print(line)
        for warning in result.warnings:
            self._print(f"warning: {warning}")
        if in_github_actions(self.environ):
            for row, channel, cell in result.problems():
                title = f"chartship release: {pipeline.TITLES[channel]}"
                art = row.artifact
                message = f"{art.chart} {art.version}: {cell.status.value}: {cell.detail}"
                self._print(actions.annotation("error", message, title=title))
            for warning in result.warnings:
                self._print(actions.annotation("warning", warning, title="chartship release"))
        actions.append_summary(release_markdown(result), self.environ)
        actions.set_outputs(release_outputs(result), self.environ)
        if result.plan.dry_run:
            self._print("release: dry run: nothing was changed")
        elif not result.ok:
            failed = ", ".join(pipeline.TITLES[c] for c in result.failed_channels())
            cells = [c.status for r in result.rows for c in r.cells.values()]
            # Running again cannot mend an immutable release: say what can.
            advice = BEYOND_REPAIR_ADVICE if Status.BEYOND_REPAIR in cells else "run it again"
            self._print(f"release: INCOMPLETE: {failed} did not complete; {advice}")
        elif result.changed:
            self._print(f"release: {len(result.rows)} chart version(s) published and verified")
        else:
            self._print("release: nothing changed: every channel already held these versions")

"""The commands as front ends run them: core call, then a human-readable result.

Both the invoke tasks and the ``chartship`` command line (which the nox
sessions run) call these, so every front end prints the same thing and fails
the same way. Nothing here exits; errors propagate to the edge.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from chartship import artifacts as artifact_mod
from chartship import bump as stamp
from chartship import github_actions as actions
from chartship import lint as lint_mod
from chartship import package as package_mod
from chartship import versions
from chartship.channels.classic import channel as index_channel
from chartship.channels.classic import pages as pages_mod
from chartship.channels.github import channel as github_release
from chartship.channels.oci import channel as oci
from chartship.config import Settings
from chartship.config import settings_from as settings_from  # the front ends' way in, kept here
from chartship.errors import ChecksFailed
from chartship.migrate import backfill as backfill_mod
from chartship.migrate import inventory as inventory_mod
from chartship.migrate import phases as migration
from chartship.release import pipeline as release_mod
from chartship.release import selection as selection_mod
from chartship.render import display_path, in_github_actions, print_lint_report

log = logging.getLogger("chartship")


def run_lint(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> lint_mod.LintReport:
    out = out or sys.stdout
    report = lint_mod.lint(settings, charts)
    print_lint_report(report, settings.root, out, environ)
    if not report.ok:
        raise ChecksFailed(f"lint found {report.errors} problem(s)", count=report.errors)
    return report


def run_bump(
    settings: Settings,
    version: str,
    charts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> list[stamp.BumpResult]:
    out = out or sys.stdout
    # Every front end takes it as --version; say so rather than only "version".
    versions.parse(version, what="--version")
    results = stamp.bump(settings, version, charts, dry_run=dry_run)
    verb = "would set" if dry_run else "set"
    for result in results:
        if not result.changed:
            print(f"{result.chart}: already at {result.version}; nothing to change", file=out)
            continue
        for edit in result.edits:
            where = display_path(edit.path, settings.root)
            print(f"{result.chart}: {verb} {where} {edit.key}: {edit.old} -> {edit.new}", file=out)
        if result.lock_refreshed:
            print(f"{result.chart}: refreshed Chart.lock", file=out)
        elif dry_run:
            print(f"{result.chart}: would refresh Chart.lock if the chart has one", file=out)
    return results


def run_package(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dev: bool = False,
    sign: bool = False,
    force: bool = False,
    out: TextIO | None = None,
) -> list[package_mod.Packaged]:
    out = out or sys.stdout
    results = package_mod.package(settings, charts, dev=dev, sign=sign, force=force)
    for item in results:
        where = display_path(item.archive, settings.root)
        extra = f" (+ {item.provenance.name})" if item.provenance else ""
        print(
            f"{item.chart} {item.version}: {item.outcome} {where} sha256:{item.sha256}{extra}",
            file=out,
        )
    return results


def run_push(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> oci.PushReport:
    """Push dist/ to the OCI channel, print one line per archive, fail on any gap."""
    out = out or sys.stdout
    report = oci.push(settings, charts, dry_run=dry_run, force=force, environ=environ)
    title = "dry run, nothing pushed:" if dry_run else "channel"
    print(f"OCI: {title} {report.target.url}", file=out)
    for outcome in report.outcomes:
        art = outcome.item.artifact
        digest = f" manifest {outcome.manifest_digest}" if outcome.manifest_digest else ""
        verb: str = "would push" if outcome.status == "planned" else outcome.status
        if outcome.status == "planned" and outcome.item.action == "replace":
            verb = "would REPLACE"
        print(
            f"  {art.chart} {art.version}: {verb} {outcome.item.reference} "
            f"({outcome.message}){digest}",
            file=out,
        )
    for meta in report.metadata:
        print(
            f"  {meta.chart}: Artifact Hub metadata {meta.status} {meta.reference} "
            f"({meta.message})",
            file=out,
        )
    counts = ", ".join(
        f"{report.count(s)} {s}"
        for s in ("pushed", "replaced", "skipped", "planned", "refused", "failed")
        if report.count(s)
    )
    changed = report.count("pushed") + report.count("replaced")
    quiet = "" if dry_run or changed else "; nothing changed"
    print(f"OCI: {counts or 'nothing to do'}{quiet}", file=out)
    oci.require_complete(report)
    return report


def run_github_release(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
    notes: Path | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> github_release.ReleaseReport:
    """Converge one GitHub release per archive; print each release and asset."""
    out = out or sys.stdout
    report = github_release.publish_releases(
        settings, charts, dry_run=dry_run, force=force, notes_file=notes, environ=environ
    )
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
            print(f"    {asset.name}: {asset.status} ({asset.message})", file=out)
    changed = (
        sum(o.status == "created" for o in report.outcomes)
        + report.assets("uploaded")
        + report.assets("replaced")
    )
    quiet = "" if dry_run or changed else "; nothing changed"
    print(f"GitHub: {len(report.outcomes)} release(s){quiet}", file=out)
    github_release.require_complete(report)
    return report


def run_index(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    pull_request_branch: str | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> pages_mod.PagesResult:
    """Merge the archives of dist/ into index.yaml on the pages branch and push it.

    With ``packages: releases`` each entry points at the archive's GitHub
    release asset, exactly as GitHub reports it, so the release comes first.
    """
    out = out or sys.stdout
    artifacts = artifact_mod.from_dist(settings, charts)
    result, urls = index_channel.publish(
        settings,
        artifacts,
        dry_run=dry_run,
        pull_request_branch=pull_request_branch,
        environ=environ,
    )
    print(f"index: {result.summary}", file=out)
    by_key = {(a.chart, a.version): a for a in artifacts}
    for key in result.added:
        one = by_key[key]
        print(f"  {one.chart} {one.version}: {urls[key]} (sha256 {one.sha256})", file=out)
    return result


# --------------------------------------------------------------------------- migration


def _report_dir(settings: Settings, report_dir: Path | None) -> Path:
    return report_dir if report_dir is not None else settings.dist_path / "migration"


def run_migrate_status(
    settings: Settings,
    *,
    report_dir: Path | None = None,
    download: bool = True,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> inventory_mod.Inventory:
    """Inventory both channels; print the table, write JSON and Markdown reports."""
    out = out or sys.stdout
    found = inventory_mod.take_inventory(settings, environ=environ, download=download)
    inventory_mod.print_inventory(found, lambda line: print(line, file=out))
    written = inventory_mod.write_reports(found, _report_dir(settings, report_dir))
    print("reports: " + ", ".join(display_path(p, settings.root) for p in written), file=out)
    return found


def run_migrate_backfill(
    settings: Settings,
    *,
    dry_run: bool = False,
    workers: int | None = None,
    report_dir: Path | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> backfill_mod.BackfillReport:
    """Copy every proven classic version that OCI lacks; anomalies are reported, never copied."""
    out = out or sys.stdout
    report = backfill_mod.backfill(
        settings, environ=environ, dry_run=dry_run, workers=workers, stream=out
    )
    if dry_run:
        for copy in report.copies:
            print(f"  {copy.chart} {copy.version}: would push {copy.reference}", file=out)
    for copy in report.failed:
        print(f"  {copy.chart} {copy.version}: FAILED {copy.message}", file=out)
    for row in report.inventory.anomalies:
        for anomaly in row.anomalies:
            print(
                f"  {row.chart} {row.version}: not copied, {anomaly.kind}: {anomaly.message}; "
                f"{anomaly.advice}",
                file=out,
            )
    inventory_mod.write_reports(report.inventory, _report_dir(settings, report_dir), "backfill")
    print(report.summary, file=out)
    backfill_mod.require_complete(report)
    return report


def run_migrate_verify(
    settings: Settings, *, out: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> migration.Parity:
    """Parity of the two channels; a table of the differences and exit 1 on any."""
    out = out or sys.stdout
    result = migration.parity(settings, environ=environ)
    for line in result.lines():
        print(line, file=out)
    migration.require_parity(result)
    return result


def run_migrate_deprecate(
    settings: Settings,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> pages_mod.FileUpdate:
    out = out or sys.stdout
    update = migration.deprecate(settings, dry_run=dry_run, environ=environ)
    print(f"deprecate: {update.summary}", file=out)
    return update


def run_migrate_phase(
    settings: Settings,
    to: str,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    out = out or sys.stdout
    lines = migration.advance(settings, to, environ=environ, dry_run=dry_run)
    for line in lines:
        print(line, file=out)
    return lines


# --------------------------------------------------------------------------- release


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _print_selection(plan: release_mod.Plan, out: TextIO) -> None:
    selection = plan.selection
    what = f"tag {selection.tag}" if selection.tag else "charts changed since their release"
    channels = ", ".join(release_mod.TITLES[c] for c in plan.channels)
    dry = "dry run, nothing will change; " if plan.dry_run else ""
    print(f"release: {dry}{what}; channels: {channels}", file=out)
    for one in selection.candidates:
        verdict = "release" if one.selected else "left out"
        print(f"  {one.chart} {one.version}: {verdict} ({one.reason})", file=out)


def _print_rows(result: release_mod.ReleaseResult, root: Path, out: TextIO) -> None:
    for row in result.rows:
        art = row.artifact
        where = display_path(art.archive, root) if not result.plan.dry_run else art.archive.name
        adopted = (
            f" (the bytes already published at {row.adopted_from})" if row.adopted_from else ""
        )
        print(f"{art.chart} {art.version}: {where} sha256:{art.sha256}{adopted}", file=out)
        for channel in result.plan.channels:
            cell = row.cells[channel]
            verb = "would publish" if cell.status == "planned" else cell.status
            print(f"  {release_mod.TITLES[channel]}: {verb}: {cell.detail}", file=out)


def _release_outputs(result: release_mod.ReleaseResult) -> dict[str, str]:
    released = []
    values: dict[str, str] = {}
    for row in result.rows:
        art = row.artifact
        one = {
            "chart": art.chart,
            "version": art.version,
            "sha256": art.sha256,
            "oci_reference": row.oci_reference or "",
            "manifest_digest": row.manifest_digest or "",
            "download_url": row.download_url or "",
            "ok": row.ok,
        }
        released.append(one)
        values[f"{art.chart}-version"] = art.version
        values[f"{art.chart}-sha256"] = art.sha256
        if row.oci_reference:
            values[f"{art.chart}-oci-reference"] = row.oci_reference
        if row.manifest_digest:
            values[f"{art.chart}-manifest-digest"] = row.manifest_digest
    values["released"] = json.dumps(released, separators=(",", ":"))
    values["charts"] = json.dumps([r.artifact.chart for r in result.rows])
    values["changed"] = "true" if result.changed else "false"
    values["ok"] = "true" if result.ok else "false"
    return values


def _release_markdown(result: release_mod.ReleaseResult) -> str:
    title = "chartship release" + (" (dry run)" if result.plan.dry_run else "")
    if not result.rows:
        return f"### {title}\n\nNothing to release.\n"
    parts = [f"### {title}\n", actions.markdown_table(release_mod.summary_rows(result))]
    problems = result.problems()
    if problems:
        parts.append("\n**Not complete:**\n")
        for row, channel, cell in problems:
            parts.append(
                f"- {row.artifact.chart} {row.artifact.version}, "
                f"{release_mod.TITLES[channel]}: {cell.status}: {cell.detail}"
            )
    for warning in result.warnings:
        parts.append(f"\n> [!WARNING]\n> {warning}")
    return "\n".join(parts) + "\n"


def _report_release(
    result: release_mod.ReleaseResult, settings: Settings, out: TextIO, environ: Mapping[str, str]
) -> None:
    _print_rows(result, settings.root, out)
    if result.rows:
        print("", file=out)
        for line in _aligned(release_mod.summary_rows(result)):
            print(line, file=out)
    for warning in result.warnings:
        print(f"warning: {warning}", file=out)
    if in_github_actions(environ):
        for row, channel, cell in result.problems():
            title = f"chartship release: {release_mod.TITLES[channel]}"
            message = f"{row.artifact.chart} {row.artifact.version}: {cell.status}: {cell.detail}"
            print(actions.annotation("error", message, title=title), file=out)
        for warning in result.warnings:
            print(actions.annotation("warning", warning, title="chartship release"), file=out)
    actions.append_summary(_release_markdown(result), environ)
    actions.set_outputs(_release_outputs(result), environ)
    if result.plan.dry_run:
        print("release: dry run: nothing was changed", file=out)
    elif not result.ok:
        failed = ", ".join(release_mod.TITLES[c] for c in result.failed_channels())
        print(f"release: INCOMPLETE: {failed} did not complete; run it again", file=out)
    elif result.changed:
        print(f"release: {len(result.rows)} chart version(s) published and verified", file=out)
    else:
        print("release: nothing changed: every channel already held these versions", file=out)


def run_release(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    tag: str | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> release_mod.ReleaseResult:
    """lint -> package once -> publish to every channel of the phase -> verify -> summary."""
    out = out or sys.stdout
    environ = os.environ if environ is None else environ
    plan = release_mod.plan(settings, charts, tag=tag, dry_run=dry_run, environ=environ)
    _print_selection(plan, out)
    if not plan.selection.chosen:
        result = release_mod.ReleaseResult(plan)
        print("release: nothing to release", file=out)
        actions.append_summary(_release_markdown(result), environ)
        actions.set_outputs(_release_outputs(result), environ)
        return result
    run_lint(settings, plan.selection.names, out=out, environ=environ)
    with release_mod.workspace(settings, dry_run) as build_settings:
        built = release_mod.build(build_settings, plan)
        result = release_mod.publish(build_settings, plan, built)
        _report_release(result, settings, out, environ)
    release_mod.require_complete(result)
    return result


def run_matrix(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    tag: str | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The charts a release would cover, as a GitHub Actions matrix (JSON on one line)."""
    out = out or sys.stdout
    environ = os.environ if environ is None else environ
    selection = selection_mod.select(
        settings, charts, tag=tag or selection_mod.tag_from_environment(environ)
    )
    for one in selection.candidates:
        verdict = "release" if one.selected else "left out"
        log.info("matrix: %s %s: %s (%s)", one.chart, one.version, verdict, one.reason)
    matrix = {
        "include": [
            {
                "chart": c.chart,
                "version": c.version,
                "tag": settings.release_tag(c.chart, c.version),
            }
            for c in selection.chosen
        ]
    }
    text = json.dumps(matrix, separators=(",", ":"))
    print(text, file=out)
    actions.set_outputs({"matrix": text, "count": str(len(selection.chosen))}, environ)
    return matrix

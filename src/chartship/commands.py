"""The commands as front ends run them: core call, then the rendered result.

The invoke tasks and the ``chartship`` command line (which the nox sessions
run) call these, so every front end prints the same thing and fails the same
way. Each is three moves: call the core, hand the result to
:mod:`chartship.render`, and raise when the result is incomplete. Nothing
here exits; errors propagate to the edge (:mod:`chartship.exits`).
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
from chartship import bump as bump_mod
from chartship import github_actions as actions
from chartship import package as package_mod
from chartship import render, versions
from chartship.channels.classic import channel as classic_channel
from chartship.channels.classic import pages as pages_mod
from chartship.channels.contract import Key, Outcome, key_of, require_complete
from chartship.channels.github import channel as github_release
from chartship.channels.oci import channel as oci
from chartship.config import Settings
from chartship.config import settings_from as settings_from  # the front ends' way in, kept here
from chartship.lint.command import run_lint as run_lint
from chartship.migrate import backfill as backfill_mod
from chartship.migrate import decisions as decisions_mod
from chartship.migrate import inventory as inventory_mod
from chartship.migrate import phases
from chartship.release import pipeline
from chartship.safetext import redact_urls
from chartship.sandbox import rehearsal

log = logging.getLogger("chartship")


def run_bump(
    settings: Settings,
    version: str | versions.Increment,
    charts: Sequence[str] = (),
    *,
    app_version: str | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> list[bump_mod.BumpResult]:
    if isinstance(version, str):
        # Every front end takes it as --version; say so rather than only "version".
        versions.parse(version, what="--version")
    results = bump_mod.bump(settings, version, charts, app_version=app_version, dry_run=dry_run)
    render.print_bump(results, settings.root, out or sys.stdout, dry_run=dry_run)
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
    results = package_mod.package(settings, charts, dev=dev, sign=sign, force=force)
    render.print_packaged(results, settings.root, out or sys.stdout)
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
    report = oci.push(settings, charts, dry_run=dry_run, force=force, environ=environ)
    render.print_push(report, out or sys.stdout)
    _record_published(
        "OCI", {key_of(o.item.artifact): o.item.artifact for o in report.outcomes}, report.results()
    )
    require_complete("OCI push", report.results().values())
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
    report = github_release.publish_releases(
        settings, charts, dry_run=dry_run, force=force, notes_file=notes, environ=environ
    )
    render.print_github_releases(report, out or sys.stdout)
    _record_published(
        "GitHub release",
        {key_of(o.artifact): o.artifact for o in report.outcomes},
        report.results(),
    )
    require_complete("GitHub releases", report.results().values())
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
    artifacts = artifact_mod.from_dist(settings, charts)
    channel = classic_channel.ClassicChannel(
        settings,
        os.environ if environ is None else environ,
        pull_request_branch=pull_request_branch,
    )
    planned = channel.plan(artifacts)
    done = planned if dry_run else channel.publish(planned)
    _record_published(channel.title, {key_of(a): a for a in artifacts}, done.outcomes)
    sha256s = {(a.chart, a.version): a.sha256 for a in artifacts}
    render.print_index(done.result, done.urls, sha256s, out or sys.stdout)
    return done.result


def _record_published(
    title: str, artifacts: Mapping[Key, artifact_mod.Artifact], outcomes: Mapping[Key, Outcome]
) -> None:
    """Note in dist/SOURCES.json which archives the channel now holds (a dry run: none)."""
    for key, outcome in outcomes.items():
        if key in artifacts:
            pipeline.record_published(artifacts[key], {title: outcome})


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
    # Entry URLs come from a served index: never shown with a user or password.
    inventory_mod.print_inventory(found, lambda line: print(redact_urls(line), file=out))
    written = inventory_mod.write_reports(found, _report_dir(settings, report_dir))
    print("reports: " + ", ".join(render.display_path(p, settings.root) for p in written), file=out)
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
    render.print_backfill(report, out)
    inventory_mod.write_reports(report.inventory, _report_dir(settings, report_dir), "backfill")
    print(report.summary, file=out)
    require_complete(
        "backfill",
        [c.result for c in report.copies],
        advice="run it again to finish (what was copied is kept)",
    )
    return report


def run_migrate_verify(
    settings: Settings, *, out: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> phases.Parity:
    """Parity of the two channels; a table of the differences and exit 1 on any."""
    out = out or sys.stdout
    result = phases.parity(settings, environ=environ)
    for line in result.lines():
        print(line, file=out)
    phases.require_parity(result)
    return result


def run_migrate_deprecate(
    settings: Settings,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> pages_mod.FileUpdate:
    """Put the notice on the pages site; it is printed first, exactly as written."""
    out = out or sys.stdout
    update, notice = phases.deprecate(settings, dry_run=dry_run, environ=environ)
    print(notice, file=out)
    print(f"deprecate: {update.summary}", file=out)
    return update


def run_migrate_repair(
    settings: Settings,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> backfill_mod.RepairReport:
    """Add each released version index.yaml lacks to it, built from the release asset."""
    out = out or sys.stdout
    report = backfill_mod.repair(settings, environ=environ, dry_run=dry_run)
    render.print_repair(report, out)
    require_complete("repair", report.outcomes, advice="run it again to finish")
    return report


def run_migrate_accept(
    settings: Settings,
    version: str,
    *,
    action: str,
    reason: str,
    chart: str | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> decisions_mod.Decision:
    """Record the decision on an anomalous version in the decisions file."""
    out = out or sys.stdout
    decision, path = phases.accept(
        settings, version, action, reason, chart=chart, dry_run=dry_run, environ=environ
    )
    verb = "would record" if dry_run else "recorded"
    where = render.display_path(path, settings.root)
    print(f"accept: {verb} {decision.describe()} in {where}", file=out)
    return decision


def run_migrate_phase(
    settings: Settings,
    to: str,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    out = out or sys.stdout
    lines = phases.advance(settings, to, environ=environ, dry_run=dry_run)
    for line in lines:
        print(line, file=out)
    return lines


# --------------------------------------------------------------------------- release


def run_release(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    tag: str | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> pipeline.ReleaseResult:
    """The release pipeline (:data:`chartship.release.pipeline.STEPS`), told as it goes."""
    environ = os.environ if environ is None else environ
    reporter = render.ReleaseText(out or sys.stdout, environ, settings.root)
    return pipeline.release(
        settings, charts, tag=tag, dry_run=dry_run, environ=environ, reporter=reporter
    )


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
    selection = pipeline.choose(settings, charts, tag=tag, environ=environ)
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


#: ``chartship sandbox``: the core call prints as it goes and raises as the others do,
#: so it is the command itself.
run_sandbox = rehearsal.rehearse

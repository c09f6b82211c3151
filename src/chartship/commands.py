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
from typing import TYPE_CHECKING, Any, TextIO

from chartship import artifacts as artifact_mod
from chartship import charts as chartfiles
from chartship import github_actions as actions
from chartship import output as output_mod
from chartship import render, versions
from chartship.channels.classic import channel as classic_channel
from chartship.channels.classic import pages as pages_mod
from chartship.channels.contract import Key, Outcome, key_of, require_complete
from chartship.channels.oci import channel as oci
from chartship.config import Settings
from chartship.config import settings_from as settings_from  # the front ends' way in, kept here
from chartship.errors import UsageError
from chartship.gitrepo import Git, name_some
from chartship.output import Output
from chartship.release import pipeline
from chartship.runner import Runner
from chartship.safetext import redact_urls

if TYPE_CHECKING:
    # PyGithub (with requests) and the sandbox's jsonschema are a large part of
    # start-up, and so are the lint engine, packaging, bump and the migration:
    # each command imports what it uses when it runs.
    from chartship import bump as bump_mod
    from chartship import package as package_mod
    from chartship.channels.github.channel import ReleaseReport
    from chartship.channels.github.pulls import PullRequest
    from chartship.lint.command import run_lint as run_lint
    from chartship.migrate import backfill as backfill_mod
    from chartship.migrate import decisions as decisions_mod
    from chartship.migrate import inventory as inventory_mod
    from chartship.migrate import phases

log = logging.getLogger("chartship")


def __getattr__(name: str) -> Any:
    # run_lint is re-exported from chartship.lint.command on first use: importing
    # this module (a release, a push) does not load the lint engine.
    if name == "run_lint":
        from chartship.lint.command import run_lint

        return run_lint
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _output(output: Output | None, out: TextIO | None, command: str) -> Output:
    """The caller's :class:`Output`, else text on ``out`` (stdout)."""
    return output if output is not None else Output("text", out or sys.stdout, command)


@chartfiles.reading_once()
def run_bump(
    settings: Settings,
    version: str | versions.Increment,
    charts: Sequence[str] = (),
    *,
    app_version: str | None = None,
    dry_run: bool = False,
    commit: bool = False,
    out: TextIO | None = None,
) -> list[bump_mod.BumpResult]:
    from chartship import bump as bump_mod

    if isinstance(version, str):
        # Every front end takes it as --version; say so rather than only "version".
        versions.parse(version, what="--version")
    out = out or sys.stdout
    if not commit:
        results = bump_mod.bump(settings, version, charts, app_version=app_version, dry_run=dry_run)
        render.print_bump(results, settings.root, out, dry_run=dry_run)
        return results
    # What the bump would touch, so that files it does not own are never committed.
    planned = bump_mod.bump(settings, version, charts, app_version=app_version, dry_run=True)
    git = Git(settings.root)
    touched = [r for r in planned if r.changed or r.lock_planned]
    directories = [w.directory for w in chartfiles.discover(settings, [r.chart for r in touched])]
    if not git.is_repository():
        raise UsageError(f"--commit: {settings.root} is not in a git repository")
    before = git.dirty_paths(directories) if directories else []
    if before:
        shown = name_some([render.display_path(p, settings.root) for p in before])
        raise UsageError(
            f"--commit commits only what bump changes, but these charts have other "
            f"uncommitted changes: {shown}; commit or stash them first"
        )
    results = (
        planned if dry_run else bump_mod.bump(settings, version, charts, app_version=app_version)
    )
    render.print_bump(results, settings.root, out, dry_run=dry_run)
    stamped = [f"{r.chart} {r.version}" for r in touched if r.because is None]
    followers = [f"{r.chart} ({r.because})" for r in touched if r.because is not None]
    message = "Release " + ", ".join(stamped or [f"{r.chart} {r.version}" for r in touched])
    if followers and stamped:
        message += "\n\nAlso updated: " + ", ".join(followers)
    if not touched:
        print("bump: nothing to commit", file=out)
    elif dry_run:
        print(f"bump: would commit: {message.splitlines()[0]}", file=out)
    else:
        changed = git.dirty_paths(directories)
        commit_id = git.commit(changed, message)
        print(f"bump: committed {commit_id[:12]}: {message.splitlines()[0]}", file=out)
    return results


@chartfiles.reading_once()
def run_package(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dev: bool = False,
    sign: bool = False,
    force: bool = False,
    out: TextIO | None = None,
) -> list[package_mod.Packaged]:
    from chartship import package as package_mod

    results = package_mod.package(settings, charts, dev=dev, sign=sign, force=force)
    render.print_packaged(results, settings.root, out or sys.stdout)
    return results


@chartfiles.reading_once()
def run_push(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> oci.PushReport:
    """Push dist/ to the OCI channel, print one line per archive, fail on any gap."""
    report = oci.push(settings, charts, dry_run=dry_run, force=force, environ=environ)
    _output(output, out, "push").show(
        lambda stream: render.print_push(report, stream), lambda: output_mod.push_doc(report)
    )
    _record_published(
        "OCI", {key_of(o.item.artifact): o.item.artifact for o in report.outcomes}, report.results()
    )
    require_complete("OCI push", report.results().values())
    return report


@chartfiles.reading_once()
def run_github_release(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
    notes: Path | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> ReleaseReport:
    """Converge one GitHub release per archive; print each release and asset."""
    from chartship.channels.github import channel as github_release

    report = github_release.publish_releases(
        settings, charts, dry_run=dry_run, force=force, notes_file=notes, environ=environ
    )
    _output(output, out, "github-release").show(
        lambda stream: render.print_github_releases(report, stream),
        lambda: output_mod.github_release_doc(report),
    )
    _record_published(
        "GitHub release",
        {key_of(o.artifact): o.artifact for o in report.outcomes},
        report.results(),
    )
    require_complete("GitHub releases", report.results().values())
    return report


@chartfiles.reading_once()
def run_index(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    dry_run: bool = False,
    pull_request_branch: str | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> pages_mod.PagesResult:
    """Merge the archives of dist/ into index.yaml on the pages branch and push it.

    With ``packages: releases`` each entry points at the archive's GitHub
    release asset, exactly as GitHub reports it, so the release comes first.
    With ``pull_request_branch`` the change goes to that new branch and a pull
    request from it into the pages branch is opened (or found open already).
    """
    environ = os.environ if environ is None else environ
    shown = _output(output, out, "index")
    artifacts = artifact_mod.from_dist(settings, charts)
    # A dry run checks the remote as the real run does, so it refuses what that would refuse.
    pages_mod.check_push(settings, environ=environ)
    opened: PullRequest | None = None
    repo = None
    if pull_request_branch is not None and not dry_run:
        from chartship.channels.github import pulls

        # Before anything is pushed: a branch without its pull request helps nobody.
        repo = pulls.repository_for(settings, environ)
        base = classic_channel.pages_settings(settings).branch
        found = pulls.find_open(repo, pull_request_branch, base)
        if found is not None:
            shown.show(
                lambda stream: print(f"index: {found.summary}; nothing pushed", file=stream),
                lambda: output_mod.open_pull_doc(found),
            )
            return pages_mod.PagesResult(
                branch=found.head, base_branch=base, remote="", pull_request=True
            )
    channel = classic_channel.ClassicChannel(
        settings, environ, pull_request_branch=pull_request_branch
    )
    planned = channel.plan(artifacts)
    done = planned if dry_run else channel.publish(planned)
    _record_published(channel.title, {key_of(a): a for a in artifacts}, done.outcomes)
    if repo is not None and pull_request_branch is not None and done.result.commit is not None:
        added = [(c, v, done.urls[(c, v)]) for c, v in done.result.added]
        from chartship.channels.github import pulls

        title, body = pulls.title_and_body(added, done.result.base_branch)
        opened = pulls.open_pull_request(
            repo, head=pull_request_branch, base=done.result.base_branch, title=title, body=body
        )
    sha256s = {(a.chart, a.version): a.sha256 for a in artifacts}
    shown.show(
        lambda stream: render.print_index(done.result, done.urls, sha256s, stream, opened),
        lambda: output_mod.index_doc(
            done.result, done.outcomes, done.urls, sha256s, opened.as_json() if opened else None
        ),
    )
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


@chartfiles.reading_once()
def run_migrate_status(
    settings: Settings,
    *,
    report_dir: Path | None = None,
    download: bool = True,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> inventory_mod.Inventory:
    """Inventory both channels; print the table, write JSON and Markdown reports."""
    from chartship.migrate import inventory as inventory_mod

    shown = _output(output, out, "migrate status")
    found = inventory_mod.take_inventory(settings, environ=environ, download=download)
    written = inventory_mod.write_reports(found, _report_dir(settings, report_dir))
    reports = [render.display_path(p, settings.root) for p in written]

    def text(stream: TextIO) -> None:
        # Entry URLs come from a served index: never shown with a user or password.
        inventory_mod.print_inventory(found, lambda line: print(redact_urls(line), file=stream))
        print("reports: " + ", ".join(reports), file=stream)

    shown.show(text, lambda: output_mod.inventory_doc(found, reports))
    return found


@chartfiles.reading_once()
def run_migrate_backfill(
    settings: Settings,
    *,
    dry_run: bool = False,
    workers: int | None = None,
    report_dir: Path | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> backfill_mod.BackfillReport:
    """Copy every proven classic version that OCI lacks; anomalies are reported, never copied."""
    from chartship.migrate import backfill as backfill_mod
    from chartship.migrate import inventory as inventory_mod

    shown = _output(output, out, "migrate backfill")
    report = backfill_mod.backfill(
        settings, environ=environ, dry_run=dry_run, workers=workers, stream=shown.progress
    )
    written = inventory_mod.write_reports(
        report.inventory, _report_dir(settings, report_dir), "backfill"
    )
    reports = [render.display_path(p, settings.root) for p in written]

    def text(stream: TextIO) -> None:
        render.print_backfill(report, stream)
        print(report.summary, file=stream)

    shown.show(text, lambda: output_mod.backfill_doc(report, reports))
    require_complete(
        "backfill",
        [c.result for c in report.copies],
        advice="run it again to finish (what was copied is kept)",
    )
    return report


@chartfiles.reading_once()
def run_migrate_verify(
    settings: Settings,
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> phases.Parity:
    """Parity of the two channels; a table of the differences and exit 1 on any."""
    from chartship.migrate import phases

    result = phases.parity(settings, environ=environ)
    _output(output, out, "migrate verify").show(
        lambda stream: _print_lines(result.lines(), stream),
        lambda: output_mod.parity_doc(result),
    )
    phases.require_parity(result)
    return result


def _print_lines(lines: Sequence[str], stream: TextIO) -> None:
    for line in lines:
        print(line, file=stream)


@chartfiles.reading_once()
def run_migrate_deprecate(
    settings: Settings,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> pages_mod.FileUpdate:
    """Put the notice on the pages site; it is printed first, exactly as written."""
    from chartship.migrate import phases

    update, notice = phases.deprecate(settings, dry_run=dry_run, environ=environ)

    def text(stream: TextIO) -> None:
        print(notice, file=stream)
        print(f"deprecate: {update.summary}", file=stream)

    _output(output, out, "migrate deprecate").show(
        text, lambda: output_mod.file_update_doc(update, notice)
    )
    return update


@chartfiles.reading_once()
def run_migrate_repair(
    settings: Settings,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> backfill_mod.RepairReport:
    """Add each released version index.yaml lacks to it, built from the release asset."""
    from chartship.migrate import backfill as backfill_mod

    report = backfill_mod.repair(settings, environ=environ, dry_run=dry_run)
    _output(output, out, "migrate repair").show(
        lambda stream: render.print_repair(report, stream),
        lambda: output_mod.repair_doc(report),
    )
    require_complete("repair", report.outcomes, advice="run it again to finish")
    return report


@chartfiles.reading_once()
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
    output: Output | None = None,
) -> decisions_mod.Decision:
    """Record the decision on an anomalous version in the decisions file."""
    from chartship.migrate import phases

    decision, path = phases.accept(
        settings, version, action, reason, chart=chart, dry_run=dry_run, environ=environ
    )
    verb = "would record" if dry_run else "recorded"
    where = render.display_path(path, settings.root)
    _output(output, out, "migrate accept").show(
        lambda stream: print(f"accept: {verb} {decision.describe()} in {where}", file=stream),
        lambda: output_mod.decision_doc(decision, where, dry_run),
    )
    return decision


@chartfiles.reading_once()
def run_migrate_phase(
    settings: Settings,
    to: str,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> list[str]:
    from chartship.migrate import phases

    before = settings.channels.phase
    lines = phases.advance(settings, to, environ=environ, dry_run=dry_run)
    _output(output, out, "migrate phase").show(
        lambda stream: _print_lines(lines, stream),
        lambda: output_mod.phase_doc(before, to, dry_run, lines),
    )
    return lines


# --------------------------------------------------------------------------- release


@chartfiles.reading_once()
def run_release(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    tag: str | None = None,
    dry_run: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
    runner: Runner | None = None,
) -> pipeline.ReleaseResult:
    """The release pipeline (:data:`chartship.release.pipeline.STEPS`), told as it goes."""
    environ = os.environ if environ is None else environ
    shown = _output(output, out, "release")
    reporter: pipeline.Reporter = (
        render.ReleaseText(shown.stream, environ, settings.root)
        if shown.text
        else output_mod.ReleaseDocument(shown, environ, settings.root)
    )
    return pipeline.release(
        settings,
        charts,
        tag=tag,
        dry_run=dry_run,
        environ=environ,
        runner=runner,
        reporter=reporter,
    )


@chartfiles.reading_once()
def run_matrix(
    settings: Settings,
    charts: Sequence[str] = (),
    *,
    tag: str | None = None,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    output: Output | None = None,
) -> dict[str, Any]:
    """The charts a release would cover, as a GitHub Actions matrix (JSON on one line)."""
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
    _output(output, out, "matrix").show(
        lambda stream: print(text, file=stream),
        lambda: output_mod.matrix_doc(selection, matrix),
    )
    actions.set_outputs({"matrix": text, "count": str(len(selection.chosen))}, environ)
    return matrix


if TYPE_CHECKING:
    from chartship.sandbox import rehearsal as _rehearsal

    run_sandbox = _rehearsal.rehearse
else:

    def run_sandbox(*args: Any, **kwargs: Any) -> Any:
        """``chartship sandbox``: the core call prints as it goes and raises as the
        others do, so it is the command itself (:func:`chartship.sandbox.rehearsal.rehearse`,
        whose signature type checkers see).

        Imported when run: the sandbox's GitHub stand-in checks its traffic with
        jsonschema, which no other command needs at start-up.
        """
        from chartship.sandbox import rehearsal

        return rehearsal.rehearse(*args, **kwargs)

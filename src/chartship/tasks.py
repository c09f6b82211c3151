"""invoke tasks: thin wrappers over :mod:`chartship.commands`.

Use it from a tasks.py either as the whole namespace::

    from chartship.tasks import ns

or next to a repository's own module-level tasks (MetalLB's style)::

    import chartship.tasks
    ns = chartship.tasks.namespace(__name__, name="chart")

Settings come from chartship.yaml; the ``chartship`` invoke configuration
(invoke.yaml, ``INVOKE_CHARTSHIP_*`` environment variables, ``ns.configure``)
and task flags override them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

from chartship import commands
from chartship.config import Settings, parse_assignment
from chartship.errors import UsageError
from chartship.exits import outcome
from chartship.output import Output
from chartship.versions import version_request

#: Scalar defaults under one key, so INVOKE_CHARTSHIP_HELM and friends work.
DEFAULTS: dict[str, Any] = {
    "config": "",
    "helm": "",
    "charts_dir": "",
    "dist_dir": "",
    "overrides": {},
}


def _settings(
    c: Context, *, config: str = "", sets: Iterable[str] | None = None, **flags: Any
) -> Settings:
    """chartship.yaml (``--config``, else invoke's ``chartship.config``, else the
    nearest one) with invoke's overrides, then ``--set`` items, then flags."""
    cfg = c.config.get("chartship", {}) or {}
    overrides: dict[str, Any] = dict(cfg.get("overrides") or {})
    for key in ("helm", "charts_dir", "dist_dir"):
        if cfg.get(key):
            overrides[key] = cfg[key]
    overrides.update(parse_assignment(item) for item in sets or ())
    overrides.update({k: v for k, v in flags.items() if v not in (None, "")})
    return commands.settings_from(config or cfg.get("config") or None, overrides)


class ChartshipTask(Task[Any]):
    """invoke's Task without the short flag ``-h``.

    invoke gives each flag the first free letter of its name as a short flag,
    so ``--helm`` became ``-h``, and then ``invoke lint -h`` asked for a helm
    binary instead of the task's help. ``h`` is never handed out here, whatever
    the parameter names.
    """

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, {*taken_names, "h"})
        return opts


TaskBody = TypeVar("TaskBody", bound=Callable[..., None])

#: The flags every task has, as the command line has them before or after a command.
GLOBAL_HELP = {
    "config": "chartship.yaml to use (default: the chartship.config setting, else the nearest)",
    "set": "override a setting by dotted key, KEY=VALUE (repeatable)",
    "helm": "helm binary to use (overrides the helm setting)",
}


def chartship_task(
    *, iterable: Iterable[str] = (), help: dict[str, str] | None = None, **kwargs: Any
) -> Callable[[TaskBody], Task[TaskBody]]:
    """``@task`` with the global flags' help, ``--set`` repeatable, and no ``-h``."""
    decorate: Callable[[TaskBody], Task[TaskBody]] = task(
        klass=ChartshipTask,
        iterable=[*iterable, "set"],
        help={**GLOBAL_HELP, **(help or {})},
        **kwargs,
    )
    return decorate


@contextmanager
def _at_edge(command: str = "", output: str = "text") -> Iterator[Output]:
    """Where a task's errors become invoke's exit: message on stderr, status by kind.

    With ``--output json`` (or ``sarif``) the document goes to stdout as the
    command line writes it, the error in it when there is one.
    """
    shown: Output | None = None
    try:
        shown = Output(output, sys.stdout, command)
        yield shown
    except Exit:
        raise
    except Exception as exc:  # every error, a bug included, exits as the CLI would
        code, message = outcome(exc)
        if shown is not None:
            shown.finish(code, exc)
        raise Exit(message=message, code=code) from None
    shown.finish()


OUTPUT_HELP = "text (default), or json: one document on stdout (README: machine-readable output)"
LINT_OUTPUT_HELP = "text (default), json, or sarif (SARIF 2.1.0 for code scanning)"


OFFLINE_HELP = "contact no dependency repository: vendored archives only"


def _offline(offline: bool) -> dict[str, Any]:
    # Only a given flag overrides: otherwise dependencies.offline from chartship.yaml stands.
    return {"dependencies.offline": True} if offline else {}


# Repeatable flags default to None, never to (): invoke takes an argument's kind
# from a non-None default, so a tuple default turns ``--chart metallb`` into
# tuple("metallb") (one chart per letter) despite ``iterable=["chart"]``.
@chartship_task(
    iterable=["chart"],
    help={
        "output": LINT_OUTPUT_HELP,
        "chart": "chart to lint (repeatable; default: all)",
        "offline": OFFLINE_HELP,
        "strict": "warnings fail lint too (lint.strict)",
        "since": "version-increment compares with this branch or commit (lint.since)",
    },
)
def lint(
    c: Context,
    chart: Iterable[str] | None = None,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
    offline: bool = False,
    strict: bool = False,
    since: str = "",
) -> None:
    """Lint charts: helm lint --strict, Chart.yaml, values schema, dependencies, versions."""
    flags: dict[str, Any] = {"lint.since": since, **_offline(offline)}
    if strict:
        flags["lint.strict"] = True
    with _at_edge("lint", output) as shown:
        commands.run_lint(
            _settings(c, config=config, sets=set, helm=helm, **flags),
            list(chart or ()),
            output=shown,
        )


@chartship_task(
    iterable=["chart"],
    help={
        "version": "SemVer to stamp (or one of --patch, --minor, --major, --pre)",
        "patch": "each chart's next patch version",
        "minor": "each chart's next minor version",
        "major": "each chart's next major version",
        "pre": "a prerelease ID.N of the next (or --minor/--major) version, e.g. rc",
        "app_version": "set appVersion to this (whatever the app_version setting says)",
        "chart": "chart to stamp (repeatable; default: the only chart)",
        "dry_run": "print the edits, change nothing",
        "commit": "commit exactly the files bump changed (git)",
        "offline": OFFLINE_HELP,
    },
)
def bump(
    c: Context,
    version: str = "",
    patch: bool = False,
    minor: bool = False,
    major: bool = False,
    pre: str = "",
    app_version: str = "",
    chart: Iterable[str] | None = None,
    dry_run: bool = False,
    commit: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    offline: bool = False,
) -> None:
    """Stamp a release version into Chart.yaml, lockstep subcharts, dependents and Chart.lock."""
    with _at_edge():
        request = version_request(
            version or None, patch=patch, minor=minor, major=major, pre=pre or None
        )
        commands.run_bump(
            _settings(c, config=config, sets=set, helm=helm, **_offline(offline)),
            request,
            list(chart or ()),
            app_version=app_version or None,
            dry_run=dry_run,
            commit=commit,
        )


@chartship_task(
    iterable=["chart"],
    help={
        "chart": "chart to package (repeatable; default: all)",
        "dev": "development build: allow the 0.0.0 placeholder",
        "sign": "write a .prov; key from CHARTSHIP_SIGN_KEY / CHARTSHIP_SIGN_KEYRING",
        "force": "repackage archives already in dist/",
        "offline": OFFLINE_HELP,
    },
)
def package(
    c: Context,
    chart: Iterable[str] | None = None,
    dev: bool = False,
    sign: bool = False,
    force: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    offline: bool = False,
) -> None:
    """Package each chart once into dist/ with SHA256SUMS."""
    with _at_edge():
        commands.run_package(
            _settings(c, config=config, sets=set, helm=helm, **_offline(offline)),
            list(chart or ()),
            dev=dev,
            sign=sign,
            force=force,
        )


@chartship_task(
    iterable=["chart"],
    help={
        "output": OUTPUT_HELP,
        "chart": "chart whose archives to push (repeatable; default: all in dist/)",
        "dry_run": "print what would be pushed, skipped or refused; push nothing",
        "force": "replace a tag that holds a different archive (reported loudly)",
    },
)
def push(
    c: Context,
    chart: Iterable[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Push dist/ to the OCI registry: immutable tags, verified by reading back."""
    with _at_edge("push", output) as shown:
        commands.run_push(
            _settings(c, config=config, sets=set, helm=helm),
            list(chart or ()),
            dry_run=dry_run,
            force=force,
            output=shown,
        )


@chartship_task(
    name="github-release",
    iterable=["chart"],
    help={
        "output": OUTPUT_HELP,
        "chart": "chart whose archives to release (repeatable; default: all in dist/)",
        "dry_run": "print what would be created, uploaded or refused; change nothing",
        "force": "replace an attached asset that has other bytes (reported loudly)",
        "notes": "release notes file (default: the chart's artifacthub.io/changes)",
    },
)
def github_release(
    c: Context,
    chart: Iterable[str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    notes: str = "",
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """One GitHub release per chart version, archive (and .prov) attached and verified."""
    with _at_edge("github-release", output) as shown:
        commands.run_github_release(
            _settings(c, config=config, sets=set, helm=helm),
            list(chart or ()),
            dry_run=dry_run,
            force=force,
            notes=Path(notes) if notes else None,
            output=shown,
        )


@chartship_task(
    iterable=["chart"],
    help={
        "output": OUTPUT_HELP,
        "chart": "chart whose archives to index (repeatable; default: all in dist/)",
        "dry_run": "print what would be added; push nothing",
        "pull_request": "push to this new branch and open a pull request into the pages branch",
    },
)
def index(
    c: Context,
    chart: Iterable[str] | None = None,
    dry_run: bool = False,
    pull_request: str = "",
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Merge dist/ into index.yaml on the pages branch; concurrent releases lose nothing."""
    with _at_edge("index", output) as shown:
        commands.run_index(
            _settings(c, config=config, sets=set, helm=helm),
            list(chart or ()),
            dry_run=dry_run,
            pull_request_branch=pull_request or None,
            output=shown,
        )


@chartship_task(
    iterable=["chart"],
    help={
        "output": OUTPUT_HELP,
        "chart": "chart to release (repeatable; default: every chart changed since released)",
        "tag": "release tag the chart versions must match (default: GITHUB_REF_NAME of a tag)",
        "dry_run": "print the plan per chart and channel; change nothing",
        "offline": OFFLINE_HELP,
    },
)
def release(
    c: Context,
    chart: Iterable[str] | None = None,
    tag: str = "",
    dry_run: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
    offline: bool = False,
) -> None:
    """Lint, package once, publish to every channel of the phase, verify, summarize."""
    with _at_edge("release", output) as shown:
        commands.run_release(
            _settings(c, config=config, sets=set, helm=helm, **_offline(offline)),
            list(chart or ()),
            tag=tag or None,
            dry_run=dry_run,
            output=shown,
        )


@chartship_task(
    iterable=["chart"],
    help={
        "output": OUTPUT_HELP,
        "chart": "chart to consider (repeatable; default: every chart)",
        "tag": "release tag (default: GITHUB_REF_NAME of a tag)",
    },
)
def matrix(
    c: Context,
    chart: Iterable[str] | None = None,
    tag: str = "",
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Print the charts a release covers as a GitHub Actions matrix (JSON)."""
    with _at_edge("matrix", output) as shown:
        commands.run_matrix(
            _settings(c, config=config, sets=set, helm=helm),
            list(chart or ()),
            tag=tag or None,
            output=shown,
        )


@chartship_task(
    help={
        "output": OUTPUT_HELP,
        "report_dir": "where the JSON and Markdown reports go (default: <dist>/migration)",
        "no_download": "do not download and check the archives OCI lacks",
    }
)
def migrate_status(
    c: Context,
    report_dir: str = "",
    no_download: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Inventory of both channels per chart and version, with anomalies and reports."""
    with _at_edge("migrate status", output) as shown:
        commands.run_migrate_status(
            _settings(c, config=config, sets=set, helm=helm),
            report_dir=Path(report_dir) if report_dir else None,
            download=not no_download,
            output=shown,
        )


@chartship_task(
    help={
        "output": OUTPUT_HELP,
        "dry_run": "print what would be copied; push nothing",
        "workers": "pushes at once (default: channels.oci.workers)",
        "report_dir": "where the JSON and Markdown reports go (default: <dist>/migration)",
    }
)
def migrate_backfill(
    c: Context,
    dry_run: bool = False,
    workers: int = 0,
    report_dir: str = "",
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Copy every classic version OCI lacks, exact bytes, verified; resumable."""
    with _at_edge("migrate backfill", output) as shown:
        commands.run_migrate_backfill(
            _settings(c, config=config, sets=set, helm=helm),
            dry_run=dry_run,
            workers=workers or None,
            report_dir=Path(report_dir) if report_dir else None,
            output=shown,
        )


@chartship_task(
    help={"dry_run": "print the entries that would be added; push nothing", "output": OUTPUT_HELP}
)
def migrate_repair(
    c: Context,
    dry_run: bool = False,
    output: str = "text",
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
) -> None:
    """Add each released version index.yaml lacks, built from its release asset."""
    with _at_edge("migrate repair", output) as shown:
        commands.run_migrate_repair(
            _settings(c, config=config, sets=set, helm=helm), dry_run=dry_run, output=shown
        )


@chartship_task(
    help={
        "version": "the chart version decided on",
        "as_": "asset (copy the release asset's bytes to OCI) or skip (leave it out of OCI)",
        "reason": "why, for whoever reviews the decision",
        "chart": "the chart (needed when several charts have the version)",
        "dry_run": "print the decision; record nothing",
        "output": OUTPUT_HELP,
    }
)
def migrate_accept(
    c: Context,
    # Flags, not positionals: invoke hands a positional the next word, even -h.
    version: str = "",
    as_: str = "",
    reason: str = "",
    chart: str = "",
    dry_run: bool = False,
    output: str = "text",
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
) -> None:
    """Record the decision on an anomalous version in chartship-decisions.yaml."""
    for flag, value in (("--version VERSION", version), ("--as asset|skip", as_)):
        if not value:
            raise Exit(message=f"chartship: error: migrate.accept needs {flag}", code=2)
    with _at_edge("migrate accept", output) as shown:
        commands.run_migrate_accept(
            _settings(c, config=config, sets=set, helm=helm),
            version,
            action=as_,
            reason=reason,
            chart=chart or None,
            dry_run=dry_run,
            output=shown,
        )


@chartship_task(help={"output": OUTPUT_HELP})
def migrate_verify(
    c: Context,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Parity of the classic and OCI channels; fails on any difference."""
    with _at_edge("migrate verify", output) as shown:
        commands.run_migrate_verify(_settings(c, config=config, sets=set, helm=helm), output=shown)


@chartship_task(help={"output": OUTPUT_HELP, "dry_run": "say what would change; change nothing"})
def migrate_deprecate(
    c: Context,
    dry_run: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Tell classic-channel users to move to OCI (pages README; new release notes)."""
    with _at_edge("migrate deprecate", output) as shown:
        commands.run_migrate_deprecate(
            _settings(c, config=config, sets=set, helm=helm), dry_run=dry_run, output=shown
        )


@chartship_task(
    help={
        "output": OUTPUT_HELP,
        "to": "classic, dual, oci-primary or oci-only",
        "dry_run": "check the preconditions only",
    }
)
def migrate_phase(
    c: Context,
    # A flag, not a positional: invoke hands a positional the next word, even -h.
    to: str = "",
    dry_run: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
    output: str = "text",
) -> None:
    """Check the next phase's preconditions and record it in chartship.yaml."""
    with _at_edge("migrate phase", output) as shown:
        if not to:
            raise UsageError("migrate.phase needs --to PHASE")
        commands.run_migrate_phase(
            _settings(c, config=config, sets=set, helm=helm), to, dry_run=dry_run, output=shown
        )


def migrate_collection() -> Collection:
    """``migrate.status``, ``migrate.backfill``, ``migrate.repair``, ``migrate.accept``,
    ``migrate.verify``, ``migrate.deprecate``, ``migrate.phase``."""
    coll = Collection("migrate")
    steps: tuple[tuple[Any, str], ...] = (
        (migrate_status, "status"),
        (migrate_backfill, "backfill"),
        (migrate_repair, "repair"),
        (migrate_accept, "accept"),
        (migrate_verify, "verify"),
        (migrate_deprecate, "deprecate"),
        (migrate_phase, "phase"),
    )
    for one, name in steps:
        coll.add_task(one, name=name)
    return coll


def _forwarded(c: Context, sets: Iterable[str] | None) -> list[str]:
    """invoke's overrides and ``--set`` items as the ``--set`` items a sandbox run gets."""
    cfg = c.config.get("chartship", {}) or {}
    # JSON is YAML, so each value reads back as the one invoke held.
    items = [f"{k}={json.dumps(v)}" for k, v in dict(cfg.get("overrides") or {}).items()]
    items += [f"{k}={json.dumps(cfg[k])}" for k in ("charts_dir", "dist_dir") if cfg.get(k)]
    return items + list(sets or ())


@chartship_task(
    iterable=["run"],
    help={
        "run": "a chartship command line, split like shell words, never given to a shell "
        "(repeatable, in order, stopping at the first failure; default: release)",
        "classic_from": "a copy of a classic channel: DIR/index.yaml and "
        "DIR/releases/download/<tag>/<file>",
        "report": "write what ran and what the services hold to this JSON file",
        "keep": "leave the services up until Ctrl-C",
    },
)
def sandbox(
    c: Context,
    run: Iterable[str] | None = None,
    classic_from: str = "",
    report: str = "",
    keep: bool = False,
    helm: str = "",
    config: str = "",
    set: Iterable[str] | None = None,
) -> None:
    """Rehearse chartship commands on this repository against local services only."""
    with _at_edge():
        commands.run_sandbox(
            _settings(c, config=config, sets=set, helm=helm),
            list(run or ()),
            classic_from=Path(classic_from) if classic_from else None,
            report=Path(report) if report else None,
            keep=keep,
            forward=_forwarded(c, set),
        )


def collection() -> Collection:
    """A fresh collection of chartship's tasks with its configuration defaults."""
    coll = Collection(
        lint, bump, package, push, github_release, index, release, matrix, sandbox,
        migrate_collection(),
    )  # fmt: skip
    coll.configure({"chartship": dict(DEFAULTS)})
    return coll


ns = collection()


def namespace(module_name: str, *, name: str = "chart") -> Collection:
    """The calling module's own tasks plus chartship's, mounted under ``name``.

    For a tasks.py that defines module-level tasks and no ``ns``: invoke only
    looks at ``ns`` once it exists, so it has to hold both.
    """
    own = Collection.from_module(sys.modules[module_name])
    own.add_collection(collection(), name=name)
    return own

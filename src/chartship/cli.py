"""``chartship``: the command line the nox sessions run (and anyone may)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from chartship import __version__
from chartship.errors import UsageError
from chartship.exits import STATUSES, configure_logging, outcome
from chartship.output import FORMATS, SCHEMA_VERSION, Output

if TYPE_CHECKING:
    # Only for annotations: the settings and version rules load YAML, git and
    # SemVer, which ``--help`` and a refused command line never need.
    from chartship.config import Settings
    from chartship.versions import Increment

#: Levels a global option may be given at: before the command, after it, after
#: a migrate step. Each level has its own dests: argparse lets a subcommand's
#: defaults overwrite what was parsed before it, so one dest would lose
#: ``chartship --set a=1 lint`` the moment lint is parsed.
_LEVELS = ("top", "command", "step")


class ArgvError(Exception):
    """A command line argparse refused: the usage line, the parser's name, the message."""

    def __init__(self, usage: str, prog: str, message: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse that raises on a wrong command line instead of exiting, so that
    ``--output json`` can still answer with a document."""

    def error(self, message: str) -> NoReturn:
        raise ArgvError(self.format_usage(), self.prog, message)


def _globals(level: str) -> _Parser:
    """The global options as a parent parser whose dests name ``level``."""
    common = _Parser(add_help=False)
    group = common.add_argument_group("global options (before or after the command)")
    # SUPPRESS: an option not given at this level sets nothing, see _global_values.
    group.add_argument(
        "--config",
        dest=f"config_{level}",
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="chartship.yaml to use (default: nearest one upwards)",
    )
    group.add_argument(
        "--set",
        dest=f"overrides_{level}",
        action="append",
        default=argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="override a setting by dotted key, e.g. lint.workers=2 (repeatable)",
    )
    group.add_argument(
        "--helm",
        dest=f"helm_{level}",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="helm binary (overrides the helm setting)",
    )
    group.add_argument(
        "--output",
        dest=f"output_{level}",
        choices=FORMATS,
        default=argparse.SUPPRESS,
        help="text for people (default), one json document on stdout "
        f"(schema_version {SCHEMA_VERSION}), or sarif (lint only)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        dest=f"verbose_{level}",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every command run",
    )
    return common


@dataclass
class GlobalOptions:
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    helm: str | None = None
    verbose: bool = False
    output: str = "text"


def _global_values(args: argparse.Namespace) -> GlobalOptions:
    """The global options across every level; a later one wins, ``--set`` items add up."""
    found = GlobalOptions()
    for level in _LEVELS:
        found.config = getattr(args, f"config_{level}", None) or found.config
        found.helm = getattr(args, f"helm_{level}", None) or found.helm
        found.overrides += getattr(args, f"overrides_{level}", None) or []
        found.verbose = found.verbose or bool(getattr(args, f"verbose_{level}", False))
        found.output = getattr(args, f"output_{level}", None) or found.output
    return found


def exit_statuses_text() -> str:
    """The exit statuses as ``--help`` lists them (from :data:`chartship.exits.STATUSES`)."""
    width = max(len(str(code)) for code in STATUSES) + 2
    lines = [f"  {code:<{width}}{meaning}" for code, meaning in STATUSES.items()]
    return "exit statuses:\n" + "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chartship",
        description="Release Helm charts.",
        parents=[_globals("top")],
        epilog=exit_statuses_text(),
        # The epilog's table keeps its lines.
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chartship {__version__}")
    common = _globals("command")
    # For the commands that put a chart's dependencies together.
    offline = _Parser(add_help=False)
    offline.add_argument(
        "--offline",
        action="store_true",
        help="contact no dependency repository: vendored archives only (dependencies.offline)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    lint = sub.add_parser(
        "lint", parents=[common, offline], help="lint charts, reporting every problem"
    )
    lint.add_argument("charts", nargs="*", help="chart names (default: all)")
    lint.add_argument("--strict", action="store_true", help="warnings fail lint too (lint.strict)")
    lint.add_argument(
        "--since",
        metavar="REF",
        help="version-increment compares with this branch or commit, not release tags (lint.since)",
    )

    bump = sub.add_parser(
        "bump", parents=[common, offline], help="stamp a release version into charts"
    )
    which = bump.add_mutually_exclusive_group()
    which.add_argument("--version", dest="new_version", help="SemVer to stamp")
    which.add_argument("--patch", action="store_true", help="each chart's next patch version")
    which.add_argument("--minor", action="store_true", help="each chart's next minor version")
    which.add_argument("--major", action="store_true", help="each chart's next major version")
    bump.add_argument(
        "--pre", metavar="ID", help="a prerelease ID.N of the next (or --minor/--major) version"
    )
    bump.add_argument(
        "--app-version", metavar="X", help="set appVersion to X (whatever app_version says)"
    )
    bump.add_argument("--dry-run", action="store_true", help="print the edits, change nothing")
    bump.add_argument(
        "--commit", action="store_true", help="commit exactly the files bump changed (git)"
    )
    bump.add_argument("charts", nargs="*", help="chart names (default: the only chart)")

    package = sub.add_parser("package", parents=[common, offline], help="package charts into dist/")
    package.add_argument("charts", nargs="*", help="chart names (default: all)")
    package.add_argument("--dev", action="store_true", help="development build: allow 0.0.0")
    package.add_argument("--sign", action="store_true", help="write a .prov with a GPG key")
    package.add_argument("--force", action="store_true", help="repackage archives already in dist/")
    push = sub.add_parser("push", parents=[common], help="push dist/ to the OCI registry")
    push.add_argument("charts", nargs="*", help="chart names (default: every archive in dist/)")
    push.add_argument("--dry-run", action="store_true", help="print the plan, push nothing")
    push.add_argument(
        "--force", action="store_true", help="replace a tag that holds a different archive"
    )
    release = sub.add_parser(
        "github-release", parents=[common], help="one GitHub release per archive in dist/"
    )
    release.add_argument("charts", nargs="*", help="chart names (default: every archive)")
    release.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    release.add_argument(
        "--force", action="store_true", help="replace an attached asset with other bytes"
    )
    release.add_argument(
        "--notes",
        type=Path,
        help="release notes file (default: the chart's artifacthub.io/changes)",
    )
    index = sub.add_parser(
        "index", parents=[common], help="merge dist/ into index.yaml on the pages branch"
    )
    index.add_argument("charts", nargs="*", help="chart names (default: every archive)")
    index.add_argument("--dry-run", action="store_true", help="print what would be added")
    index.add_argument(
        "--pull-request",
        metavar="BRANCH",
        help="push to this new branch and open a pull request into the pages branch",
    )
    rel = sub.add_parser(
        "release",
        parents=[common, offline],
        help="lint, package once, publish to every channel of the phase, verify, summarize",
    )
    rel.add_argument("charts", nargs="*", help="chart names (default: changed since released)")
    rel.add_argument(
        "--tag",
        help="release tag the chart versions must match (default: GITHUB_REF_NAME of a tag)",
    )
    rel.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    matrix = sub.add_parser(
        "matrix", parents=[common], help="the charts a release covers, as GitHub Actions JSON"
    )
    matrix.add_argument("charts", nargs="*", help="chart names (default: changed since released)")
    matrix.add_argument("--tag", help="release tag (default: GITHUB_REF_NAME of a tag)")
    _migrate_parser(sub, common, _globals("step"))
    sandbox = sub.add_parser(
        "sandbox",
        parents=[common],
        help="rehearse chartship commands on this repository against local services",
    )
    sandbox.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="CMD",
        help="a chartship command line, split like shell words but never run by a shell "
        "(repeatable, run in order, stopping at the first failure; default: release)",
    )
    sandbox.add_argument(
        "--classic-from",
        type=Path,
        metavar="DIR",
        help="a copy of a classic channel: DIR/index.yaml and DIR/releases/download/<tag>/<file>",
    )
    sandbox.add_argument(
        "--report", type=Path, metavar="FILE", help="write what ran and what the services hold"
    )
    sandbox.add_argument("--keep", action="store_true", help="leave the services up until Ctrl-C")
    return parser


def _migrate_parser(
    sub: Any, common: argparse.ArgumentParser, step_common: argparse.ArgumentParser
) -> None:
    migrate = sub.add_parser(
        "migrate", parents=[common], help="move from the classic channel to OCI, step by step"
    )
    steps = migrate.add_subparsers(dest="step", metavar="STEP", required=True)
    status = steps.add_parser("status", parents=[step_common], help="inventory of both channels")
    status.add_argument("--report-dir", type=Path, help="where JSON and Markdown reports go")
    status.add_argument(
        "--no-download", action="store_true", help="skip downloading and checking archives"
    )
    backfill = steps.add_parser(
        "backfill", parents=[step_common], help="copy classic versions into OCI, exact bytes"
    )
    backfill.add_argument("--dry-run", action="store_true", help="print the plan, push nothing")
    backfill.add_argument("--workers", type=int, help="pushes at once (channels.oci.workers)")
    backfill.add_argument("--report-dir", type=Path, help="where JSON and Markdown reports go")
    repair = steps.add_parser(
        "repair", parents=[step_common], help="add released versions index.yaml lacks to it"
    )
    repair.add_argument("--dry-run", action="store_true", help="print the plan, push nothing")
    accept = steps.add_parser(
        "accept", parents=[step_common], help="record the decision on an anomalous version"
    )
    accept.add_argument("version", metavar="VERSION", help="the chart version decided on")
    accept.add_argument(
        "--as", dest="action", required=True, choices=("asset", "skip"),
        help="asset: copy the release asset's bytes to OCI; skip: leave it out of OCI",
    )  # fmt: skip
    accept.add_argument("--reason", required=True, help="why, for whoever reviews it")
    accept.add_argument("--chart", help="the chart (needed when several have VERSION)")
    accept.add_argument("--dry-run", action="store_true", help="print it, record nothing")
    steps.add_parser(
        "verify", parents=[step_common], help="every release in every channel, anomalies decided"
    )
    deprecate = steps.add_parser(
        "deprecate", parents=[step_common], help="tell classic users to move to OCI"
    )
    deprecate.add_argument("--dry-run", action="store_true", help="change nothing")
    phase = steps.add_parser(
        "phase", parents=[step_common], help="check and record the move to another phase"
    )
    phase.add_argument("to", metavar="PHASE", help="classic, dual, oci-primary or oci-only")
    phase.add_argument("--dry-run", action="store_true", help="check only")


def _bump_request(args: argparse.Namespace) -> str | Increment:
    from chartship.versions import version_request

    return version_request(
        args.new_version, patch=args.patch, minor=args.minor, major=args.major, pre=args.pre
    )


class _Commands:
    """chartship.commands, imported on first use."""

    def __getattr__(self, name: str) -> Any:
        from chartship import commands

        return getattr(commands, name)


def _run_lint(settings: Settings, charts: Sequence[str], output: Output) -> object:
    from chartship.lint.command import run_lint

    return run_lint(settings, charts, output=output)


Run = Callable[["Settings", argparse.Namespace, Output], object]


def _commands() -> dict[str, Run]:
    """Each command (and migrate step) and how its parsed arguments reach commands.py."""
    # Imported when run: a wrong chartship.yaml or flag is reported before the helm,
    # registry and GitHub machinery is loaded, and lint never loads the channels.
    c = _Commands()

    return {
        "lint": lambda s, a, o: _run_lint(s, a.charts, o),
        "bump": lambda s, a, o: c.run_bump(
            s,
            _bump_request(a),
            a.charts,
            app_version=a.app_version,
            dry_run=a.dry_run,
            commit=a.commit,
        ),
        "package": lambda s, a, o: c.run_package(
            s, a.charts, dev=a.dev, sign=a.sign, force=a.force
        ),
        "push": lambda s, a, o: c.run_push(s, a.charts, dry_run=a.dry_run, force=a.force, output=o),
        "github-release": lambda s, a, o: c.run_github_release(
            s, a.charts, dry_run=a.dry_run, force=a.force, notes=a.notes, output=o
        ),
        "index": lambda s, a, o: c.run_index(
            s, a.charts, dry_run=a.dry_run, pull_request_branch=a.pull_request, output=o
        ),
        "release": lambda s, a, o: c.run_release(
            s, a.charts, tag=a.tag, dry_run=a.dry_run, output=o
        ),
        "matrix": lambda s, a, o: c.run_matrix(s, a.charts, tag=a.tag, output=o),
        "migrate status": lambda s, a, o: c.run_migrate_status(
            s, report_dir=a.report_dir, download=not a.no_download, output=o
        ),
        "migrate backfill": lambda s, a, o: c.run_migrate_backfill(
            s, dry_run=a.dry_run, workers=a.workers, report_dir=a.report_dir, output=o
        ),
        "migrate repair": lambda s, a, o: c.run_migrate_repair(s, dry_run=a.dry_run, output=o),
        "migrate accept": lambda s, a, o: c.run_migrate_accept(
            s,
            a.version,
            action=a.action,
            reason=a.reason,
            chart=a.chart,
            dry_run=a.dry_run,
            output=o,
        ),
        "migrate verify": lambda s, a, o: c.run_migrate_verify(s, output=o),
        "migrate deprecate": lambda s, a, o: c.run_migrate_deprecate(
            s, dry_run=a.dry_run, output=o
        ),
        "migrate phase": lambda s, a, o: c.run_migrate_phase(s, a.to, dry_run=a.dry_run, output=o),
        "sandbox": lambda s, a, o: c.run_sandbox(
            s,
            a.run,
            classic_from=a.classic_from,
            report=a.report,
            keep=a.keep,
            forward=a.forward,
        ),
    }


#: The commands whose results have no document yet: text only.
TEXT_ONLY = frozenset({"bump", "package", "sandbox"})


def _wanted(argv: Sequence[str]) -> tuple[str, str | None]:
    """The ``--output`` and the command a command line asked for, read without
    argparse (which refused it): a document for a wrong command line too."""
    wanted = "text"
    words = list(argv)
    for number, word in enumerate(words):
        if word == "--output" and number + 1 < len(words):
            wanted = words[number + 1]
        elif word.startswith("--output="):
            wanted = word.split("=", 1)[1]
    found = [w for w in words if not w.startswith("-")]
    for number, word in enumerate(found):
        if word == "migrate" and number + 1 < len(found):
            return wanted, f"migrate {found[number + 1]}"
        if word in _commands_named():
            return wanted, word
    return wanted, None


def _commands_named() -> frozenset[str]:
    return frozenset({"lint", "push", "github-release", "index", "release", "matrix"})


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
    except ArgvError as exc:
        print(f"{exc.usage}{exc.prog}: error: {exc}", file=sys.stderr)
        wanted, command = _wanted(argv)
        with contextlib.suppress(UsageError):  # no document for that command or format
            if wanted != "text" and command is not None:
                Output(wanted, sys.stdout, command).finish(2, UsageError(str(exc)))
        return 2
    options = _global_values(args)
    configure_logging(options.verbose)
    command = args.command if args.command != "migrate" else f"migrate {args.step}"
    try:
        if command in TEXT_ONLY and options.output != "text":
            raise UsageError(f"--output {options.output}: {command} prints text only")
        output = Output(options.output, sys.stdout, command)
    except UsageError as exc:
        code, message = outcome(exc)
        print(message, file=sys.stderr)
        return code
    try:
        from chartship.config import parse_assignment, settings_from

        if args.command == "bump":
            _bump_request(args)  # a wrong flag combination before chartship.yaml is read
        overrides = dict(parse_assignment(item) for item in options.overrides)
        if options.helm:
            overrides["helm"] = options.helm
        if getattr(args, "offline", False):
            overrides["dependencies.offline"] = True
        if getattr(args, "strict", False):
            overrides["lint.strict"] = True
        if getattr(args, "since", None):
            overrides["lint.since"] = args.since
        settings = settings_from(options.config, overrides)
        # The sandbox hands the same --set items on to every command it runs.
        args.forward = options.overrides
        _commands()[command](settings, args, output)
    except Exception as exc:
        code, message = outcome(exc)
        print(message, file=sys.stderr)
        output.finish(code, exc)
        return code
    output.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

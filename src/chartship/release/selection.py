"""Which charts a release covers, and the guard between a release tag and the charts.

Three ways to say what to release, strictest first:

* a release tag (``--tag`` or, in a tag-triggered GitHub Actions run,
  ``GITHUB_REF_NAME``): a chart's own tag (``metallb-chart-0.16.2`` with the
  template ``{name}-chart-{version}``) releases that chart, a version tag
  (``v0.16.2``) releases every named chart (default: all). Every chart it
  covers must be stamped with exactly that version;
* chart names: those charts, as they are stamped;
* nothing: every chart changed since its last release, judged by git. A
  chart whose version has no release tag yet is released; one whose release
  tag exists is released only when its files differ from that tag (lint then
  asks for a version bump), and its reason names those files. A clone
  without its release tags (shallow, or ``--no-tags``) is refused here: it
  would make every chart look never released.

The placeholder version 0.0.0 is never released: a chart carrying it is left
out of the default selection and refused when asked for.

Whichever way, a chart that depends on a chosen one (a sibling chart,
:mod:`chartship.siblings`) joins the selection, saying why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from chartship import charts as chartfiles
from chartship import siblings, versions
from chartship.charts import Chart
from chartship.config import Settings
from chartship.errors import UsageError, VersionError
from chartship.gitrepo import Git, name_some, released_version, tag_pattern
from chartship.output import display_path
from chartship.runner import Runner
from chartship.safetext import shown


@dataclass(frozen=True)
class Candidate:
    chart: str
    version: str
    selected: bool
    reason: str
    directory: Path
    #: The release tag, when it was left out because git says this version was
    #: released (its tag exists, its files unchanged): the channels then decide.
    released_as: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.chart, self.version


@dataclass(frozen=True)
class Selection:
    tag: str | None
    candidates: tuple[Candidate, ...]

    @property
    def chosen(self) -> list[Candidate]:
        return [c for c in self.candidates if c.selected]

    @property
    def left_out(self) -> list[Candidate]:
        return [c for c in self.candidates if not c.selected]

    @property
    def names(self) -> list[str]:
        return [c.chart for c in self.chosen]


def tag_from_environment(environ: Mapping[str, str]) -> str | None:
    """The pushed tag of a tag-triggered GitHub Actions run (never a branch name)."""
    if environ.get("GITHUB_REF_TYPE") != "tag":
        return None
    return environ.get("GITHUB_REF_NAME") or None


def parse_tag(settings: Settings, tag: str, chart_names: Sequence[str]) -> tuple[str | None, str]:
    """(chart or None, version) a release tag names.

    A chart's own release tag wins over a bare version; among charts whose
    names prefix one another, the longest name that leaves a valid version.
    """
    for name in sorted(chart_names, key=len, reverse=True):
        version = tag_pattern(settings.release.tag, name).version(tag)
        if version is not None and versions.is_valid(version):
            return name, version
    bare = tag[1:] if tag.startswith("v") else tag
    if versions.is_valid(bare):
        return None, bare
    example = settings.release.tag.format(name="<chart>", version="<version>")
    raise UsageError(
        f"release tag {shown(tag)} is neither a chart release tag ({example}) "
        "nor a version (v1.2.3 or 1.2.3)"
    )


def _refuse_version(chart: Chart, wanted: str, why: str) -> VersionError:
    return VersionError(
        f"chart {chart.name} is stamped {chart.version}, but {why} {wanted}; "
        f"stamp it first (bump --version {wanted}), nothing was published",
        path=chart.chart_yaml,
        line=chart.doc.line("version"),
    )


def _placeholder(chart: Chart) -> VersionError:
    return VersionError(
        f"chart {chart.name} carries the unstamped placeholder {versions.PLACEHOLDER}, "
        "which is never published; stamp a version first (bump --version X.Y.Z)",
        path=chart.chart_yaml,
        line=chart.doc.line("version"),
    )


def _by_tag(settings: Settings, tag: str, names: Sequence[str]) -> Selection:
    every = chartfiles.load_all(chartfiles.discover(settings))
    chart_name, version = parse_tag(settings, tag, [c.name for c in every])
    if chart_name is not None:
        if names and list(names) != [chart_name]:
            raise UsageError(
                f"release tag {tag} is chart {chart_name}'s; it cannot release "
                f"{', '.join(n for n in names if n != chart_name)}"
            )
        wanted = [chart_name]
    else:
        wanted = list(names) or [c.name for c in every]
    loaded = chartfiles.load_all(chartfiles.discover(settings, wanted))
    picked = []
    for chart in loaded:
        if chart.version != version:
            raise _refuse_version(chart, version, f"the release tag {tag} says")
        if versions.is_placeholder(chart.version):
            raise _placeholder(chart)
        picked.append(Candidate(chart.name, chart.version, True, f"tag {tag}", chart.directory))
    return Selection(tag, tuple(picked))


def _under(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def _changes(
    git: Git,
    tag: str,
    chart: Chart,
    trees: dict[str, str | None],
    relative: str,
    dirty: list[Path],
) -> list[Path]:
    """The chart's files that differ from its release tag (resolved paths)."""
    same_tree = trees.get(f"{tag}:./{relative}") == trees.get(f"HEAD:./{relative}")
    if same_tree and not any(_under(path, chart.directory) for path in dirty):
        # The common case of a release run, answered without a diff per chart.
        return []
    return [p.resolve() for p in git.changes_since(tag, chart.directory)]


def _by_change(settings: Settings, runner: Runner | None, only: Sequence[str] = ()) -> Selection:
    loaded = chartfiles.load_all(chartfiles.discover(settings, only))
    for chart in loaded:
        # Its release tag would be made of that version: refuse it before naming one.
        chartfiles.require_semver(chart)
    git = Git(settings.root, runner)
    checkout = git.checkout()
    if checkout is None:
        reason = "not in a git repository, so every chart is released"
        return Selection(
            None,
            tuple(
                Candidate(c.name, c.version, not versions.is_placeholder(c.version), reason,
                          c.directory)
                for c in loaded
            ),
        )  # fmt: skip
    listed = sorted(checkout.tags)
    patterns = [tag_pattern(settings.release.tag, c.name) for c in loaded]
    gap = git.history_gap(checkout, lambda name: any(p.matches(name) for p in patterns))
    if gap is not None:
        raise UsageError(
            f"cannot tell which charts changed since their release: {gap}; "
            "or name the charts, or the release tag, to release"
        )
    tags = set(listed)
    root = settings.root.resolve()
    # Per chart: its release tag and both tree specs, computed once.
    specs = {
        chart.name: (
            settings.release_tag(chart.name, chart.version),
            chart.directory.resolve().relative_to(root).as_posix(),
        )
        for chart in loaded
    }
    # HEAD itself is asked in the same batch: with no commit yet nothing is compared.
    trees = git.object_ids(
        ["HEAD", *(f"{rev}:./{rel}" for tag, rel in specs.values() for rev in (tag, "HEAD"))]
    )
    if trees.get("HEAD") is None:
        trees = {}
    dirty = git.dirty_paths([c.directory for c in loaded], checkout.toplevel) if loaded else []
    picked = []
    for chart in loaded:
        tag, relative = specs[chart.name]
        last = released_version(listed, settings.release.tag, chart.name)
        if versions.is_placeholder(chart.version):
            selected, reason = False, f"carries the placeholder {versions.PLACEHOLDER}"
        elif tag not in tags:
            selected = True
            reason = "never released" if last is None else f"new version (last: {last.version})"
        elif changed := _changes(git, tag, chart, trees, relative, dirty):
            shown = name_some(
                [p.relative_to(chart.directory.resolve()).as_posix() for p in changed]
            )
            selected, reason = True, f"changed since {tag}: {shown}"
        else:
            selected, reason = False, f"unchanged since {tag}"
        released = tag if not selected and tag in tags else None
        picked.append(
            Candidate(chart.name, chart.version, selected, reason, chart.directory, released)
        )
    return Selection(None, tuple(picked))


def require_committed(
    settings: Settings, chosen: Sequence[Candidate], runner: Runner | None = None
) -> None:
    """Refuse to release charts whose files differ from HEAD's.

    A release packages the working tree but tags HEAD (the GitHub release's
    tag, the release tag a rerun reads): with uncommitted changes, the tag
    would name a commit that does not hold what was published.
    """
    git = Git(settings.root, runner)
    if not chosen or not git.is_repository():
        return
    dirty = git.dirty_paths([c.directory for c in chosen])
    if dirty:
        files = [display_path(p, settings.root) for p in dirty]
        raise UsageError(
            f"uncommitted changes in the charts to release: {name_some(files)}; a release "
            "publishes these files but tags the commit HEAD, which does not hold them: commit "
            "them first (`bump --commit` commits a bump)"
        )


def _with_dependents(settings: Settings, selection: Selection, runner: Runner | None) -> Selection:
    """The selection plus every chart that depends on a chosen one, each saying why.

    A dependent is judged as a release without names judges every chart: a
    version not released yet, or files changed since its release tag, is
    released; one whose version is released and unchanged is left out, since
    that version cannot be published again (bump it to ship the new sibling).
    A release tag covers only the charts it names, so there a dependent is
    listed and left out.
    """
    graph = siblings.graph(settings)
    reasons = graph.with_dependents(selection.names)
    because = {name: why for name, why in reasons.items() if why}
    if not because:
        return selection
    candidates = []
    for one in selection.candidates:
        why = because.get(one.chart)
        if why is not None and one.reason.startswith("unchanged since"):
            why += f" (bump {one.chart} to release it with that)"
        candidates.append(replace(one, reason=f"{one.reason}; {why}") if why else one)
    listed = {one.chart for one in selection.candidates}
    missing = [name for name in because if name not in listed]
    if missing and selection.tag:
        for chart in chartfiles.load_all(chartfiles.discover(settings, missing)):
            why = f"{because[chart.name]}; the release tag {selection.tag} does not cover it"
            candidates.append(Candidate(chart.name, chart.version, False, why, chart.directory))
    elif missing:
        for one in _by_change(settings, runner, missing).candidates:
            candidates.append(replace(one, reason=f"{because[one.chart]}; {one.reason}"))
    return Selection(selection.tag, tuple(candidates))


def select(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    tag: str | None = None,
    runner: Runner | None = None,
) -> Selection:
    """The charts to release; every version guard is applied here, before any work.

    Charts that depend on a chosen one (:mod:`chartship.siblings`) are
    added, each with the reason it is there.
    """
    if tag:
        return _with_dependents(settings, _by_tag(settings, tag, names), runner)
    if names:
        picked = []
        for chart in chartfiles.load_all(chartfiles.discover(settings, names)):
            if versions.is_placeholder(chart.version):
                raise _placeholder(chart)
            chartfiles.require_semver(chart)
            picked.append(Candidate(chart.name, chart.version, True, "named", chart.directory))
        return _with_dependents(settings, Selection(None, tuple(picked)), runner)
    return _with_dependents(settings, _by_change(settings, runner), runner)


def with_channel_gaps(selection: Selection, lacking: Mapping[tuple[str, str], str]) -> Selection:
    """Released versions that some channel lacks (``lacking``: which) are released again.

    A version counts as released only when every channel of the phase holds
    it: a release that failed in one channel (a split release) is completed
    by the next plain run, with the bytes the other channels hold.
    """
    if not lacking:
        return selection
    candidates = []
    for one in selection.candidates:
        missing = lacking.get(one.key) if one.released_as else None
        if missing is None:
            candidates.append(one)
            continue
        reason = f"released as {one.released_as}, but {missing} does not hold it"
        candidates.append(replace(one, selected=True, reason=reason, released_as=None))
    return Selection(selection.tag, tuple(candidates))

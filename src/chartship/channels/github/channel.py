"""The GitHub Releases channel: one release per chart version, archives as assets.

Each release is converged on its own, and no one ever sees a release without
its assets: a missing release is created as a draft, every asset is uploaded
to the draft and read back against the local sha256, and only then is the
draft published. A run killed on the way leaves a draft, which the next run
finds in the listing (a draft has no tag yet, so by its tag_name), completes
and publishes; spare drafts of the same tag are deleted, so there is never
more than one. A published release missing an asset gets it, unless the
release is immutable (GitHub's immutable releases): then nothing can mend it
and it is reported beyond repair, with the advice to release a new version.
An existing asset is downloaded and compared by sha256 (a different one is
refused unless forced, and always on an immutable release). Chart releases
never take the repository's Latest marker unless configured to.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from github import Github, GithubException
from github.GithubObject import NotSet
from github.GitRelease import GitRelease
from github.GitReleaseAsset import GitReleaseAsset
from github.Repository import Repository

from chartship import artifacts as artifact_mod
from chartship import versions, yamlfiles
from chartship.artifacts import Artifact
from chartship.channels.contract import Holding, Key, Outcome, Status, key_of
from chartship.channels.github import NAME, TITLE, client
from chartship.config import GithubSettings, Settings
from chartship.errors import ChartError, GithubError, UsageError
from chartship.gitrepo import Git
from chartship.migrate import notices
from chartship.runner import Runner

log = logging.getLogger("chartship")

ReleaseStatus = Literal["created", "existing", "planned", "failed"]
#: What publishing does to one asset ("beyond": nothing can, the release is immutable).
AssetAction = Literal["upload", "skip", "refuse", "replace", "beyond"]
#: Asset statuses that keep a release from being complete.
_BAD = (Status.REFUSED, Status.FAILED, Status.BEYOND_REPAIR)


@dataclass(frozen=True)
class ReleasedAsset:
    """One asset of a published release, as the release listing gives it."""

    tag: str
    name: str
    url: str  # browser_download_url
    published: datetime | None  # the release's published_at
    fetch: Callable[[], bytes] = field(repr=False, compare=False)


@dataclass
class AssetOutcome:
    name: str
    status: Status  # uploaded, skipped, refused, replaced, failed or planned
    message: str
    download_url: str | None = None


@dataclass
class ReleaseOutcome:
    artifact: Artifact
    tag: str
    status: ReleaseStatus
    message: str
    html_url: str | None = None
    assets: list[AssetOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed" and all(a.status not in _BAD for a in self.assets)

    @property
    def result(self) -> Outcome:
        """The channel contract's outcome for this version: the release with its archive."""
        bad = [a for a in self.assets if a.status in _BAD]
        archive = next((a for a in self.assets if a.name == self.artifact.archive.name), None)
        url = archive.download_url if archive is not None else None
        if self.status == "failed":
            return Outcome(Status.FAILED, self.message, self.tag, download_url=url)
        if bad:
            return Outcome(bad[0].status, f"{bad[0].name}: {bad[0].message}", self.tag, None, url)
        if self.status in ("created", "planned"):
            return Outcome(Status(self.status), f"{self.tag}: {self.message}", self.tag, None, url)
        if any(a.status in (Status.UPLOADED, Status.REPLACED) for a in self.assets):
            return Outcome(
                Status.UPLOADED, f"{self.tag} existed; asset attached", self.tag, None, url
            )
        return Outcome(
            Status.SKIPPED, f"{self.tag} exists with the same asset", self.tag, None, url
        )


@dataclass
class ReleaseReport:
    repository: str
    outcomes: list[ReleaseOutcome]
    dry_run: bool

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def assets(self, status: str) -> int:
        return sum(a.status == status for o in self.outcomes for a in o.assets)

    def results(self) -> dict[Key, Outcome]:
        return {key_of(o.artifact): o.result for o in self.outcomes}


def github_settings(settings: Settings) -> GithubSettings:
    if settings.channels.github is None:
        where = f" in {settings.source}" if settings.source else ""
        raise UsageError(f"no GitHub channel configured{where}: set channels.github.repository")
    return settings.channels.github


#: GitHub refuses a release body longer than this many characters.
MAX_BODY_CHARS = 125_000
#: UTF-8 takes at most four bytes a character: a longer notes file is never read whole.
_NOTES = yamlfiles.Bounds("release notes file", 4 * MAX_BODY_CHARS)


def read_notes(path: Path) -> str:
    """A ``--notes`` file: strict UTF-8, and no longer than a GitHub release body may be."""
    try:
        text = yamlfiles.read_text(path, _NOTES)
    except ChartError as exc:
        raise UsageError(f"--notes: {exc.message}", path=path) from None
    if len(text) > MAX_BODY_CHARS:
        raise UsageError(
            f"--notes: {len(text)} characters, over the {MAX_BODY_CHARS} GitHub takes for a "
            "release body",
            path=path,
        )
    return text


def release_notes(artifact: Artifact, notes_file: Path | None) -> str:
    """The release body: a notes file, else the chart's artifacthub.io/changes."""
    if notes_file is not None:
        return read_notes(notes_file)
    meta = artifact.metadata()
    annotations = meta.get("annotations")
    changes = annotations.get("artifacthub.io/changes") if isinstance(annotations, dict) else None
    lines = [f"Helm chart {artifact.chart} {artifact.version}."]
    if isinstance(changes, str) and changes.strip():
        try:
            parsed = yamlfiles.load_data(changes, yamlfiles.ANNOTATION)
        except yaml.YAMLError:
            parsed = None
        items = parsed if isinstance(parsed, list) else []
        if items:
            lines += ["", "## Changes", ""]
            size = sum(len(line) + 1 for line in lines)
            for number, item in enumerate(items):
                if isinstance(item, dict):
                    kind = f"**{item.get('kind')}**: " if item.get("kind") else ""
                    line = f"- {kind}{item.get('description', '')}"
                else:
                    line = f"- {item}"
                size += len(line) + 1
                # Room kept for the rest of the body (the notice, the cut line).
                if size > MAX_BODY_CHARS - 2000:
                    left = len(items) - number
                    lines.append(f"- ... and {left} more in the chart's artifacthub.io/changes")
                    break
                lines.append(line)
    return "\n".join(lines) + "\n"


def release_body(settings: Settings, artifact: Artifact, notes_file: Path | None) -> str:
    """The whole body of ``artifact``'s release, refused over GitHub's limit."""
    body = _with_notice(settings, artifact, release_notes(artifact, notes_file))
    if len(body) > MAX_BODY_CHARS:
        raise UsageError(
            f"--notes: with the notice chartship adds, the release body of {artifact.chart} "
            f"{artifact.version} would be {len(body)} characters, over the {MAX_BODY_CHARS} "
            "GitHub takes",
            path=notes_file,
        )
    return body


def _with_notice(settings: Settings, artifact: Artifact, body: str) -> str:
    """From the oci-primary phase on, every new release tells classic users where to go."""
    if not notices.classic_deprecated(settings):
        return body
    return f"> [!IMPORTANT]\n> {notices.move_to_oci(settings, artifact.chart)}\n\n{body}"


@dataclass(frozen=True)
class Asset:
    """One asset a chart release carries: the artifact's bytes, never a file re-read."""

    name: str
    data: bytes = field(repr=False)
    sha256: str
    content_type: str


def _wanted(artifact: Artifact) -> list[Asset]:
    """Every asset a chart release carries."""
    wanted = [Asset(artifact.file_name, artifact.content, artifact.sha256, "application/gzip")]
    prov, prov_sha = artifact.provenance_content, artifact.provenance_sha256
    if prov is not None and prov_sha is not None:
        wanted.append(Asset(artifact.provenance_name, prov, prov_sha, "application/octet-stream"))
    return wanted


#: What fails one release and not the others.
_ERRORS: tuple[type[Exception], ...] = (*client.API_ERRORS, GithubError)


@dataclass
class PlannedAsset:
    asset: Asset
    action: AssetAction
    existing: GitReleaseAsset | None
    outcome: AssetOutcome  # what a dry run reports


@dataclass
class PlannedRelease:
    artifact: Artifact
    tag: str
    release: GitRelease | None  # the published release; None: to be published
    assets: list[PlannedAsset]
    #: The draft an earlier run left for this tag, to be completed and published.
    draft: GitRelease | None = None
    #: Other drafts of the tag (two runs at once, a retried create): deleted.
    spare_drafts: list[GitRelease] = field(default_factory=list)

    @property
    def outcome(self) -> ReleaseOutcome:
        """What a dry run reports for this release."""
        if self.release is None:
            status: ReleaseStatus = "planned"
            message, url = "would create the release", None
            if self.draft is not None:
                message = "would complete and publish the draft an earlier run left"
        else:
            status, message, url = "existing", "exists", self.release.html_url
        assets = [a.outcome for a in self.assets]
        return ReleaseOutcome(self.artifact, self.tag, status, message, url, assets)


def _immutable(release: GitRelease) -> bool:
    """GitHub's ``immutable`` flag of a release; absent (older servers) means not."""
    return release.raw_data.get("immutable") is True


def _beyond_repair(tag: str) -> str:
    return (
        f"{tag} is published and immutable without it: GitHub takes no asset on it and its "
        "tag cannot be used again; release a new version of the chart"
    )


def _plan_asset(
    existing: GitReleaseAsset | None,
    asset: Asset,
    reader: client.AssetReader,
    *,
    force: bool,
    frozen: str | None = None,
) -> PlannedAsset:
    """What to do about one asset; ``frozen`` is the tag of the immutable release it is on."""
    sha = asset.sha256

    def planned(action: AssetAction, status: Status, message: str) -> PlannedAsset:
        url = existing.browser_download_url if existing is not None else None
        outcome = AssetOutcome(asset.name, status, message, url)
        return PlannedAsset(asset, action, existing, outcome)

    if existing is None:
        if frozen is not None:
            return planned("beyond", Status.BEYOND_REPAIR, _beyond_repair(frozen))
        return planned("upload", Status.PLANNED, "would upload")
    remote = reader.sha256(existing)
    if remote == sha:
        return planned("skip", Status.SKIPPED, "already attached, same sha256")
    if frozen is not None:
        return planned(
            "refuse",
            Status.REFUSED,
            f"attached asset has sha256 {remote}, the local file {sha}, on the immutable "
            f"release {frozen}: nothing can replace it; release a new version of the chart",
        )
    if not force:
        return planned(
            "refuse",
            Status.REFUSED,
            f"attached asset has sha256 {remote}, the local file {sha}; --force replaces it",
        )
    return planned("replace", Status.PLANNED, f"would REPLACE the asset with sha256 {remote}")


def _plan_assets(
    release: GitRelease | None, artifact: Artifact, reader: client.AssetReader, *, force: bool
) -> list[PlannedAsset]:
    """Each asset of ``artifact`` judged against what ``release`` (None: none) carries."""
    attached = client.assets_of(release) if release is not None else {}
    frozen = release.tag_name if release is not None and _immutable(release) else None
    # A draft is private: other bytes on it (a killed run that packaged others) give way.
    force = force or (release is not None and release.draft)
    return [
        _plan_asset(attached.get(a.name), a, reader, force=force, frozen=frozen)
        for a in _wanted(artifact)
    ]


def _plan_release(
    repo: Repository,
    settings: Settings,
    artifact: Artifact,
    reader: client.AssetReader,
    *,
    force: bool,
    drafts: Callable[[], Mapping[str, list[GitRelease]]],
) -> PlannedRelease:
    """Read the release (or the draft an earlier run left) and its assets; decide what
    publishing must do to each."""
    tag = settings.release_tag(artifact.chart, artifact.version)
    release = client.find_release(repo, tag)
    if release is not None:
        assets = _plan_assets(release, artifact, reader, force=force)
        return PlannedRelease(artifact, tag, release, assets)
    mine = drafts().get(tag, [])
    draft = mine[0] if mine else None
    assets = _plan_assets(draft, artifact, reader, force=force)
    return PlannedRelease(artifact, tag, None, assets, draft, mine[1:])


def _upload(release: GitRelease, asset: Asset) -> GitReleaseAsset:
    """Upload the held bytes themselves: nothing is read from dist/ again."""
    return release.upload_asset_from_memory(
        io.BytesIO(asset.data), len(asset.data), asset.name, content_type=asset.content_type
    )


def _apply_asset(
    release: GitRelease, planned: PlannedAsset, reader: client.AssetReader, *, force: bool
) -> AssetOutcome:
    name = planned.asset.name
    if planned.action in ("skip", "refuse", "beyond"):
        return planned.outcome
    if planned.action == "upload":
        try:
            uploaded = _upload(release, planned.asset)
        except GithubException as exc:
            if client.immutable_refusal(exc):
                # Immutable since it was read (published by someone, or the setting
                # turned on meanwhile).
                return AssetOutcome(name, Status.BEYOND_REPAIR, _beyond_repair(release.tag_name))
            if not client.already_exists(exc):
                raise
            # Someone uploaded it meanwhile: judge theirs like any existing asset.
            theirs = client.assets_of(release).get(name)
            if theirs is None:
                raise
            again = _plan_asset(theirs, planned.asset, reader, force=force)
            return _apply_asset(release, again, reader, force=force)
        return AssetOutcome(name, Status.UPLOADED, "uploaded", uploaded.browser_download_url)
    assert planned.existing is not None  # a replace always has the asset it replaces
    remote = reader.sha256(planned.existing)
    planned.existing.delete_asset()
    uploaded = _upload(release, planned.asset)
    url = uploaded.browser_download_url
    if release.draft:
        # No one has seen a draft's asset: this run's bytes are the version's now.
        message = f"replaced the unpublished draft's sha256 {remote}"
        return AssetOutcome(name, Status.UPLOADED, message, url)
    log.warning("%s: forced over the attached asset %s (sha256 %s)", release.tag_name, name, remote)
    return AssetOutcome(name, Status.REPLACED, f"REPLACED sha256 {remote} (forced)", url)


def _verify(
    release: GitRelease,
    outcomes: list[AssetOutcome],
    wanted: list[Asset],
    reader: client.AssetReader,
    *,
    every: bool = False,
) -> None:
    """Read the release back: every asset written (``every``: every asset) attached, with
    the local sha256."""
    attached = client.assets_of(release)
    expected = {asset.name: asset.sha256 for asset in wanted}
    for outcome in outcomes:
        if outcome.status not in (Status.UPLOADED, Status.REPLACED) and not every:
            continue
        asset = attached.get(outcome.name)
        if asset is None:
            raise GithubError(
                f"GitHub: read-back: {outcome.name} is not attached to {release.tag_name}"
            )
        remote = reader.sha256(asset)
        if remote != expected[outcome.name]:
            raise GithubError(
                f"GitHub: read-back: {outcome.name} on {release.tag_name} has sha256 {remote}, "
                f"expected {expected[outcome.name]}"
            )
        outcome.message += " and verified"
        outcome.download_url = asset.browser_download_url


class GithubChannel:
    """The GitHub releases channel behind :mod:`chartship.channels.contract`."""

    name = NAME
    title = TITLE

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        force: bool = False,
        notes_file: Path | None = None,
        repo: Repository | None = None,
        runner: Runner | None = None,
        client_factory: Callable[[GithubSettings, str | None], Github] = client.client,
    ) -> None:
        self.warnings: list[str] = []
        self.settings = settings
        self.gh = github_settings(settings)
        self.force = force
        self.notes_file = notes_file
        self.token = client.token_from(environ)
        self.repo = repo or client.repository(self.gh, self.token, client_factory)
        self.reader = client.AssetReader(self.gh, self.token)
        self.runner = runner

    def _failed(self, artifact: Artifact, exc: Exception) -> ReleaseOutcome:
        tag = self.settings.release_tag(artifact.chart, artifact.version)
        error = exc if isinstance(exc, GithubError) else client.as_error(exc, f"release {tag}")
        return ReleaseOutcome(artifact, tag, "failed", str(error))

    def lookup(self, artifact: Artifact) -> Holding | None:
        tag = self.settings.release_tag(artifact.chart, artifact.version)
        try:
            release = client.find_release(self.repo, tag)
            if release is None:
                return None
            assets = client.assets_of(release)
        except client.API_ERRORS as exc:
            raise client.as_error(exc, f"release {tag}") from None
        asset = assets.get(artifact.archive.name)
        if asset is None:
            return None
        digest = asset.digest if isinstance(asset.digest, str) else ""
        if digest.startswith("sha256:"):
            sha = digest.removeprefix("sha256:")
        else:
            sha = self.reader.sha256(asset)
        prov_asset = assets.get(artifact.archive.name + ".prov")

        def provenance() -> bytes | None:
            return self.reader.read(prov_asset) if prov_asset is not None else None

        return Holding(
            "GitHub", asset.browser_download_url, sha, lambda: self.reader.read(asset), provenance
        )

    def releases(self) -> dict[str, dict[str, ReleasedAsset]]:
        """Every published release's tag and its assets by name, from one paged listing."""
        found: dict[str, dict[str, ReleasedAsset]] = {}
        try:
            # The listing carries each release's assets: no request per release.
            for release in self.repo.get_releases():
                if release.draft:
                    continue  # not published: no one can download its assets
                found[release.tag_name] = {
                    a.name: ReleasedAsset(
                        release.tag_name,
                        a.name,
                        a.browser_download_url,
                        release.published_at,
                        functools.partial(self.reader.read, a),
                    )
                    for a in release.assets
                }
        except client.API_ERRORS as exc:
            raise client.as_error(exc, f"releases of {self.gh.repository}") from None
        return found

    def release_assets(self) -> dict[str, set[str]]:
        """Every published release's tag and the names of its assets."""
        return {tag: set(assets) for tag, assets in self.releases().items()}

    def held(self, keys: Sequence[Key]) -> set[Key]:
        if not keys:
            return set()
        assets = self.release_assets()
        return {
            (chart, version)
            for chart, version in keys
            if f"{chart}-{version}.tgz"
            in assets.get(self.settings.release_tag(chart, version), set())
        }

    def plan_releases(self, artifacts: Sequence[Artifact]) -> list[PlannedRelease | ReleaseOutcome]:
        """Each artifact's planned release, or the failure that kept it from being read."""
        planned: list[PlannedRelease | ReleaseOutcome] = []
        listed: dict[str, list[GitRelease]] | None = None

        def drafts() -> Mapping[str, list[GitRelease]]:
            # Read once, and only if some release is not published yet.
            nonlocal listed
            if listed is None:
                listed = client.drafts(self.repo)
            return listed

        for artifact in artifacts:
            try:
                planned.append(
                    _plan_release(
                        self.repo,
                        self.settings,
                        artifact,
                        self.reader,
                        force=self.force,
                        drafts=drafts,
                    )
                )
            except _ERRORS as exc:
                planned.append(self._failed(artifact, exc))
        return planned

    def plan(self, artifacts: Sequence[Artifact]) -> GithubPlan:
        return GithubPlan(self.gh.repository, self.plan_releases(artifacts))

    def _draft(self, planned: PlannedRelease, target: str | None) -> GitRelease:
        """The one draft of ``planned.tag``: the earlier run's, else a new one.

        Drafts do not take a tag, so GitHub lets two of them share one (two runs
        at once, or a create retried after its answer was lost): after creating,
        the oldest draft of the tag is the one, and any other is deleted.
        """
        for spare in planned.spare_drafts:
            spare.delete_release()
        if planned.draft is not None:
            return planned.draft
        artifact = planned.artifact
        body = release_body(self.settings, artifact, self.notes_file)
        try:
            self.repo.create_git_release(
                planned.tag,
                name=planned.tag,
                message=body,
                draft=True,
                prerelease=versions.is_prerelease(artifact.version),
                target_commitish=target if target else NotSet,
            )
        except GithubException as exc:
            raise self._refused(exc, planned, target, "create its draft") from None
        mine = client.drafts(self.repo).get(planned.tag, [])
        if not mine:
            raise GithubError(f"GitHub: release {planned.tag}: the new draft is not listed")
        for spare in mine[1:]:
            spare.delete_release()
        return mine[0]

    def _refused(
        self, exc: GithubException, planned: PlannedRelease, target: str | None, doing: str
    ) -> GithubError:
        """GitHub's refusal to ``doing`` for the release, with what to do about it;
        ``target`` is the commit its tag is to point at."""
        what = f"release {planned.tag}: could not {doing}"
        if client.bad_target(exc):
            commit = target or "the target commit"
            return client.describe(
                exc,
                what,
                advice=f"GitHub does not know commit {commit}: push it (git push) first, then "
                "run the release again",
            )
        if client.tag_spent(exc):
            return client.describe(
                exc,
                what,
                advice="an immutable release used this tag before: release a new version of "
                "the chart",
            )
        return client.describe(exc, what)

    def _publish_draft(
        self, planned: PlannedRelease, draft: GitRelease, target: str | None
    ) -> GitRelease:
        """Publish the verified draft; what GitHub answers is read back."""
        try:
            published = draft.update_release(
                draft.name or planned.tag,
                draft.body or "",
                draft=False,
                prerelease=draft.prerelease,
                tag_name=planned.tag,
                make_latest="true" if self.gh.make_latest else "false",
            )
        except GithubException as exc:
            # The draft keeps the commit the run that created it aimed at.
            aimed = draft.target_commitish or target
            raise self._refused(exc, planned, aimed, "publish its verified draft") from None
        if published.draft:
            raise GithubError(f"GitHub: release {planned.tag}: still a draft after publishing")
        missing = {a.name for a in _wanted(planned.artifact)} - {a.name for a in published.assets}
        if missing:
            raise GithubError(
                f"GitHub: release {planned.tag}: published without {', '.join(sorted(missing))}"
            )
        return published

    def _apply_one(self, planned: PlannedRelease, target: str | None) -> ReleaseOutcome:
        wanted = _wanted(planned.artifact)
        if planned.release is not None:
            release = planned.release
            outcomes = [
                _apply_asset(release, a, self.reader, force=self.force) for a in planned.assets
            ]
            _verify(release, outcomes, wanted, self.reader)
            return ReleaseOutcome(
                planned.artifact, planned.tag, "existing", "exists", release.html_url, outcomes
            )
        draft = self._draft(planned, target)
        assets = planned.assets
        if planned.draft is None or draft.id != planned.draft.id:
            assets = _plan_assets(draft, planned.artifact, self.reader, force=self.force)
        outcomes = [_apply_asset(draft, a, self.reader, force=self.force) for a in assets]
        if any(o.status in _BAD for o in outcomes):
            # Publishing would expose a release without (the right) assets.
            return ReleaseOutcome(
                planned.artifact, planned.tag, "failed", "left as a draft: " + "; ".join(
                    f"{o.name}: {o.message}" for o in outcomes if o.status in _BAD
                ), draft.html_url, outcomes,
            )  # fmt: skip
        _verify(draft, outcomes, wanted, self.reader, every=True)
        published = self._publish_draft(planned, draft, target)
        resumed = planned.draft is not None and draft.id == planned.draft.id
        message = (
            "published the draft an earlier run left, assets verified"
            if resumed
            else "created as a draft, assets verified, published"
        )
        return ReleaseOutcome(
            planned.artifact, planned.tag, "created", message, published.html_url, outcomes
        )

    def publish(self, plan: GithubPlan) -> ReleaseReport:
        """Carry out ``plan``, release by release, each read back."""
        target = self.gh.target
        if target is None:
            git = Git(self.settings.root, self.runner)
            if git.is_repository():
                target = git.head()
        report = ReleaseReport(plan.repository, [], dry_run=False)
        for planned in plan.releases:
            if isinstance(planned, ReleaseOutcome):
                report.outcomes.append(planned)
                continue
            try:
                report.outcomes.append(self._apply_one(planned, target))
            except _ERRORS as exc:
                report.outcomes.append(self._failed(planned.artifact, exc))
        return report

    def apply(self, plan: GithubPlan) -> dict[Key, Outcome]:
        return self.publish(plan).results()

    def verify(self, artifacts: Sequence[Artifact]) -> dict[Key, Outcome]:
        found: dict[Key, Outcome] = {}
        for artifact in artifacts:
            tag = self.settings.release_tag(artifact.chart, artifact.version)
            try:
                url = download_url(self.repo, self.settings, artifact)
            except GithubError as exc:
                found[key_of(artifact)] = Outcome(Status.FAILED, f"verify: {exc}", tag)
                continue
            found[key_of(artifact)] = Outcome(Status.SKIPPED, "read back", tag, download_url=url)
        return found


@dataclass
class GithubPlan:
    repository: str
    releases: list[PlannedRelease | ReleaseOutcome]

    @property
    def report(self) -> ReleaseReport:
        """What a dry run reports."""
        outcomes = [p if isinstance(p, ReleaseOutcome) else p.outcome for p in self.releases]
        return ReleaseReport(self.repository, outcomes, dry_run=True)

    @property
    def outcomes(self) -> dict[Key, Outcome]:
        return self.report.results()


def publish_releases(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
    notes_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    client_factory: Callable[[GithubSettings, str | None], Github] = client.client,
    artifacts: Sequence[Artifact] | None = None,
) -> ReleaseReport:
    """Converge one GitHub release per archive (default: every archive in dist/)."""
    environ = os.environ if environ is None else environ
    github_settings(settings)
    if artifacts is None:
        artifacts = artifact_mod.from_dist(settings, names)
    # Every body is checked before the first request, not half-way through the releases.
    for artifact in artifacts:
        release_body(settings, artifact, notes_file)
    # A dry run checks the token as the real run does: it refuses what that would refuse.
    repo = preflight(settings, environ, client_factory)
    channel = GithubChannel(
        settings,
        environ,
        force=force,
        notes_file=notes_file,
        repo=repo,
        runner=runner,
        client_factory=client_factory,
    )
    planned = channel.plan(artifacts)
    return planned.report if dry_run else channel.publish(planned)


def configured_repository(settings: Settings, environ: Mapping[str, str]) -> Repository:
    """The configured repository, looked up with the token from ``environ``."""
    return client.repository(github_settings(settings), client.token_from(environ))


def preflight(
    settings: Settings,
    environ: Mapping[str, str],
    client_factory: Callable[[GithubSettings, str | None], Github] = client.client,
) -> Repository:
    """The token set, the repository there, and (where GitHub says) the token able to write
    releases: checked before anything is published. The repository is returned."""
    token = client.token_from(environ)
    if token is None:
        names = " or ".join(client.TOKEN_VARIABLES)
        raise UsageError(f"the GitHub release channel needs a token: set {names}")
    repo = client.repository(github_settings(settings), token, client_factory)
    # GitHub lists the token's permissions on the repository it answers with; an
    # answer without them (a fine-grained token, some GitHub Enterprise versions)
    # leaves the first write to tell.
    permissions = repo.raw_data.get("permissions")
    if isinstance(permissions, dict) and permissions.get("push") is False:
        raise GithubError(
            f"GitHub: the token may not write to {repo.full_name} (creating releases needs "
            "push access: contents: write for a fine-grained token, the repo scope for a "
            "classic one)"
        )
    return repo


def download_url(repo: Repository, settings: Settings, artifact: Artifact) -> str:
    """browser_download_url of the archive's release asset, as GitHub reports it."""
    tag = settings.release_tag(artifact.chart, artifact.version)
    try:
        release = client.find_release(repo, tag)
        assets = client.assets_of(release) if release is not None else {}
    except client.API_ERRORS as exc:
        raise client.as_error(exc, f"release {tag}") from None
    if release is None:
        raise GithubError(
            f"GitHub: no release {tag} for {artifact.archive.name}; publish the release first"
        )
    asset = assets.get(artifact.archive.name)
    if asset is None:
        raise GithubError(f"GitHub: release {tag} has no asset {artifact.archive.name}")
    return asset.browser_download_url


def download_urls(
    settings: Settings, artifacts: Sequence[Artifact], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """browser_download_url of each archive's release asset, by archive name."""
    repo = configured_repository(settings, os.environ if environ is None else environ)
    return {a.archive.name: download_url(repo, settings, a) for a in artifacts}

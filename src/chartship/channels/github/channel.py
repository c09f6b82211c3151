"""The GitHub Releases channel: one release per chart version, archives as assets.

Each release is converged on its own: missing releases are created, existing
ones get only their missing assets, an existing asset is downloaded and
compared by sha256 (a different one is refused unless forced), and the result
is read back. Chart releases never take the repository's Latest marker unless
configured to.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import requests
import yaml
from github import Auth, Github, GithubException, GithubRetry, UnknownObjectException
from github.GithubObject import NotSet
from github.GitRelease import GitRelease
from github.GitReleaseAsset import GitReleaseAsset
from github.Repository import Repository
from urllib3.response import BaseHTTPResponse

from chartship import artifacts as artifact_mod
from chartship import versions
from chartship.artifacts import Artifact
from chartship.config import GithubSettings, Settings
from chartship.errors import GithubError, GithubUnavailable, PublishIncomplete, UsageError
from chartship.gitrepo import Git
from chartship.migrate import notices
from chartship.package import archive_metadata
from chartship.runner import Runner

log = logging.getLogger("chartship")

TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")

AssetStatus = Literal["uploaded", "skipped", "refused", "replaced", "failed", "planned"]
ReleaseStatus = Literal["created", "existing", "planned", "failed"]


@dataclass
class AssetOutcome:
    name: str
    status: AssetStatus
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
        return self.status != "failed" and all(
            a.status not in ("refused", "failed") for a in self.assets
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


class _BoundedRetry(GithubRetry):
    """GitHub's own retry rules, with every wait capped by ``max_wait``.

    urllib3 sleeps whatever Retry-After says; a release job must rather fail
    with a clear message than hang for an hour.
    """

    def __init__(self, max_wait: float, **kwargs: Any) -> None:
        self.max_wait = max_wait
        kwargs.setdefault("status_forcelist", [429, *range(500, 600)])
        super().__init__(max_rate_limit_wait=max_wait, **kwargs)

    def new(self, **kw: Any) -> _BoundedRetry:
        kw.pop("max_rate_limit_wait", None)
        return type(self)(self.max_wait, **kw)

    def sleep_for_retry(self, response: BaseHTTPResponse) -> bool:
        wait = self.get_retry_after(response)
        if wait is not None and wait > self.max_wait:
            raise GithubException(
                response.status,
                {"message": f"asked to wait {wait:g}s (Retry-After), more than {self.max_wait:g}s"},
                None,
            )
        return bool(super().sleep_for_retry(response))


def github_settings(settings: Settings) -> GithubSettings:
    if settings.channels.github is None:
        where = f" in {settings.source}" if settings.source else ""
        raise UsageError(f"no GitHub channel configured{where}: set channels.github.repository")
    return settings.channels.github


def token_from(environ: Mapping[str, str]) -> str | None:
    for name in TOKEN_VARIABLES:
        if environ.get(name):
            return environ[name]
    return None


def client(gh: GithubSettings, token: str | None) -> Github:
    interval, writes = (0.25, 1.0) if gh.throttle else (None, None)
    return Github(
        auth=Auth.Token(token) if token else None,
        base_url=gh.api_url.rstrip("/"),
        timeout=int(max(gh.timeout, 1)),
        # Seven retries: a GitHub having a bad minute (a fifth of the calls failing)
        # must not fail a migration that makes hundreds of calls.
        retry=_BoundedRetry(
            gh.max_wait, total=7, backoff_factor=0.25, backoff_max=min(gh.max_wait, 5.0)
        ),
        seconds_between_requests=interval,
        seconds_between_writes=writes,
        user_agent="chartship",
    )


def repository(
    gh: GithubSettings,
    token: str | None,
    client_factory: Callable[[GithubSettings, str | None], Github] = client,
) -> Repository:
    """The configured repository, with GitHub's refusal or silence as a GithubError."""
    try:
        return client_factory(gh, token).get_repo(gh.repository)
    except GithubException as exc:
        raise describe(exc, f"repository {gh.repository}") from None
    except requests.RequestException as exc:
        raise unreachable(exc, f"repository {gh.repository}") from None


def describe(error: GithubException, what: str) -> GithubError:
    """A message from GitHub's answer: status, message and errors, never headers."""
    data = error.data if isinstance(error.data, dict) else {}
    message = data.get("message") or str(error.data or "")
    details = [
        f"{e.get('resource', '')} {e.get('field', '')} {e.get('code', '')}".strip()
        for e in data.get("errors") or []
        if isinstance(e, dict)
    ]
    extra = f" ({'; '.join(details)})" if details else ""
    kind = GithubUnavailable if error.status >= 500 or error.status == 429 else GithubError
    return kind(f"GitHub: {what}: {error.status} {message}{extra}")


def unreachable(error: requests.RequestException, what: str) -> GithubError:
    """A transport failure (retries used up, connection refused) as one clear line."""
    reason: BaseException = error
    for _ in range(5):  # requests wraps urllib3, which wraps the cause
        inner = reason.args[0] if reason.args else None
        if not isinstance(inner, BaseException):
            break
        nested = getattr(inner, "reason", inner)
        reason = nested if isinstance(nested, BaseException) else inner
    text = str(reason)
    if "too many" in text and "error responses" in text:
        text = f"gave up after retries ({text.split('(')[-1].rstrip(')').strip()})"
    return GithubUnavailable(f"GitHub: {what}: {text}")


#: What PyGithub raises for an API failure or an unreachable host.
API_ERRORS: tuple[type[Exception], ...] = (GithubException, requests.RequestException)


def as_error(error: Exception, what: str) -> GithubError:
    """One of :data:`API_ERRORS` as chartship's GitHub error, token-free."""
    if isinstance(error, GithubException):
        return describe(error, what)
    if isinstance(error, requests.RequestException):
        return unreachable(error, what)
    return GithubError(f"GitHub: {what}: {error}")


def _already_exists(error: GithubException) -> bool:
    data = error.data if isinstance(error.data, dict) else {}
    return error.status == 422 and any(
        isinstance(e, dict) and e.get("code") == "already_exists" for e in data.get("errors") or []
    )


def release_notes(artifact: Artifact, notes_file: Path | None) -> str:
    """The release body: a notes file, else the chart's artifacthub.io/changes."""
    if notes_file is not None:
        try:
            return notes_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read the notes file {notes_file}: {exc}") from None
    meta = archive_metadata(artifact.archive)
    annotations = meta.get("annotations")
    changes = annotations.get("artifacthub.io/changes") if isinstance(annotations, dict) else None
    lines = [f"Helm chart {artifact.chart} {artifact.version}."]
    if isinstance(changes, str) and changes.strip():
        try:
            parsed = yaml.safe_load(changes)
        except yaml.YAMLError:
            parsed = None
        items = parsed if isinstance(parsed, list) else []
        if items:
            lines += ["", "## Changes", ""]
            for item in items:
                if isinstance(item, dict):
                    kind = f"**{item.get('kind')}**: " if item.get("kind") else ""
                    lines.append(f"- {kind}{item.get('description', '')}")
                else:
                    lines.append(f"- {item}")
    return "\n".join(lines) + "\n"


def _with_notice(settings: Settings, artifact: Artifact, body: str) -> str:
    """From the oci-primary phase on, every new release tells classic users where to go."""
    if not notices.classic_deprecated(settings):
        return body
    return f"> [!IMPORTANT]\n> {notices.move_to_oci(settings, artifact.chart)}\n\n{body}"


def _sha256_of(asset: GitReleaseAsset) -> str:
    return hashlib.sha256(asset_bytes(asset)).hexdigest()


def asset_bytes(asset: GitReleaseAsset, limit: int = 64 * 2**20) -> bytes:
    """The asset's content, refused past ``limit`` bytes."""
    streamed = asset.download_asset()
    if streamed is None:
        raise GithubError(f"GitHub: asset {asset.name} could not be downloaded")
    _status, _headers, chunks = streamed
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise GithubError(f"GitHub: asset {asset.name} is over {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def find_release(repo: Repository, tag: str) -> GitRelease | None:
    try:
        return repo.get_release(tag)
    except UnknownObjectException:
        return None


def assets_of(release: GitRelease) -> dict[str, GitReleaseAsset]:
    return _assets_by_name(release)


def _assets_by_name(release: GitRelease) -> dict[str, GitReleaseAsset]:
    return {asset.name: asset for asset in release.get_assets()}


def _wanted(artifact: Artifact) -> list[tuple[Path, str, str]]:
    """(file, sha256, content type) of every asset a chart release carries."""
    wanted = [(artifact.archive, artifact.sha256, "application/gzip")]
    if artifact.provenance is not None and artifact.provenance_sha256 is not None:
        wanted.append((artifact.provenance, artifact.provenance_sha256, "application/octet-stream"))
    return wanted


def _converge_asset(
    release: GitRelease,
    existing: dict[str, GitReleaseAsset],
    path: Path,
    sha: str,
    content_type: str,
    *,
    force: bool,
    dry_run: bool,
) -> AssetOutcome:
    name = path.name
    asset = existing.get(name)
    if asset is None:
        if dry_run:
            return AssetOutcome(name, "planned", "would upload")
        try:
            uploaded = release.upload_asset(str(path), name=name, content_type=content_type)
        except GithubException as exc:
            if not _already_exists(exc):
                raise
            # Someone uploaded it meanwhile: judge theirs like any existing asset.
            asset = _assets_by_name(release).get(name)
            if asset is None:
                raise
        else:
            return AssetOutcome(name, "uploaded", "uploaded", uploaded.browser_download_url)
    remote = _sha256_of(asset)
    if remote == sha:
        return AssetOutcome(
            name, "skipped", "already attached, same sha256", asset.browser_download_url
        )
    if not force:
        return AssetOutcome(
            name,
            "refused",
            f"attached asset has sha256 {remote}, the local file {sha}; --force replaces it",
            asset.browser_download_url,
        )
    if dry_run:
        return AssetOutcome(name, "planned", f"would REPLACE the asset with sha256 {remote}")
    asset.delete_asset()
    uploaded = release.upload_asset(str(path), name=name, content_type=content_type)
    log.warning("%s: forced over the attached asset %s (sha256 %s)", release.tag_name, name, remote)
    return AssetOutcome(
        name, "replaced", f"REPLACED sha256 {remote} (forced)", uploaded.browser_download_url
    )


def _verify(
    release: GitRelease, outcomes: list[AssetOutcome], wanted: list[tuple[Path, str, str]]
) -> None:
    """Read the release back: every asset attached, with the local sha256."""
    attached = _assets_by_name(release)
    expected = {path.name: sha for path, sha, _ in wanted}
    for outcome in outcomes:
        if outcome.status not in ("uploaded", "replaced"):
            continue
        asset = attached.get(outcome.name)
        if asset is None:
            raise GithubError(
                f"GitHub: read-back: {outcome.name} is not attached to {release.tag_name}"
            )
        remote = _sha256_of(asset)
        if remote != expected[outcome.name]:
            raise GithubError(
                f"GitHub: read-back: {outcome.name} on {release.tag_name} has sha256 {remote}, "
                f"expected {expected[outcome.name]}"
            )
        outcome.message += " and verified"
        outcome.download_url = asset.browser_download_url


def _converge_release(
    repo: Repository,
    gh: GithubSettings,
    settings: Settings,
    artifact: Artifact,
    *,
    target: str | None,
    notes_file: Path | None,
    force: bool,
    dry_run: bool,
) -> ReleaseOutcome:
    tag = settings.release_tag(artifact.chart, artifact.version)
    try:
        release: GitRelease | None = repo.get_release(tag)
    except UnknownObjectException:
        release = None
    wanted = _wanted(artifact)
    if release is None:
        if dry_run:
            planned = [AssetOutcome(p.name, "planned", "would upload") for p, _, _ in wanted]
            return ReleaseOutcome(
                artifact, tag, "planned", "would create the release", None, planned
            )
        try:
            release = repo.create_git_release(
                tag,
                name=tag,
                message=_with_notice(settings, artifact, release_notes(artifact, notes_file)),
                prerelease=versions.is_prerelease(artifact.version),
                make_latest="true" if gh.make_latest else "false",
                target_commitish=target if target else NotSet,
            )
            status: ReleaseStatus = "created"
            message = "created"
        except GithubException as exc:
            if not _already_exists(exc):
                raise
            release = repo.get_release(tag)
            status, message = "existing", "created meanwhile by someone else"
    else:
        status, message = "existing", "exists"
    existing = _assets_by_name(release)
    assets = [
        _converge_asset(release, existing, path, sha, ctype, force=force, dry_run=dry_run)
        for path, sha, ctype in wanted
    ]
    if not dry_run:
        _verify(release, assets, wanted)
    return ReleaseOutcome(artifact, tag, status, message, release.html_url, assets)


def publish_releases(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
    notes_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    client_factory: Callable[[GithubSettings, str | None], Github] = client,
    artifacts: Sequence[Artifact] | None = None,
) -> ReleaseReport:
    """Converge one GitHub release per archive (default: every archive in dist/)."""
    environ = os.environ if environ is None else environ
    gh = github_settings(settings)
    if artifacts is None:
        artifacts = artifact_mod.from_dist(settings, names)
    token = token_from(environ)
    if token is None and not dry_run:
        raise UsageError(f"GitHub needs a token: set {' or '.join(TOKEN_VARIABLES)}")
    target = gh.target
    if target is None:
        git = Git(settings.root, runner)
        if git.is_repository():
            target = git.head()
    repo = repository(gh, token, client_factory)
    report = ReleaseReport(gh.repository, [], dry_run)
    for artifact in artifacts:
        tag = settings.release_tag(artifact.chart, artifact.version)
        try:
            outcome = _converge_release(
                repo,
                gh,
                settings,
                artifact,
                target=target,
                notes_file=notes_file,
                force=force,
                dry_run=dry_run,
            )
        except GithubException as exc:
            outcome = ReleaseOutcome(artifact, tag, "failed", str(describe(exc, f"release {tag}")))
        except requests.RequestException as exc:
            outcome = ReleaseOutcome(
                artifact, tag, "failed", str(unreachable(exc, f"release {tag}"))
            )
        except GithubError as exc:
            outcome = ReleaseOutcome(artifact, tag, "failed", str(exc))
        report.outcomes.append(outcome)
    return report


def configured_repository(settings: Settings, environ: Mapping[str, str]) -> Repository:
    """The configured repository, looked up with the token from ``environ``."""
    return repository(github_settings(settings), token_from(environ))


def download_url(repo: Repository, settings: Settings, artifact: Artifact) -> str:
    """browser_download_url of the archive's release asset, as GitHub reports it."""
    tag = settings.release_tag(artifact.chart, artifact.version)
    try:
        release = find_release(repo, tag)
    except GithubException as exc:
        raise describe(exc, f"release {tag}") from None
    if release is None:
        raise GithubError(
            f"GitHub: no release {tag} for {artifact.archive.name}; publish the release first"
        )
    asset = _assets_by_name(release).get(artifact.archive.name)
    if asset is None:
        raise GithubError(f"GitHub: release {tag} has no asset {artifact.archive.name}")
    return asset.browser_download_url


def download_urls(
    settings: Settings, artifacts: Sequence[Artifact], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """browser_download_url of each archive's release asset, by archive name."""
    repo = configured_repository(settings, os.environ if environ is None else environ)
    return {a.archive.name: download_url(repo, settings, a) for a in artifacts}


def require_complete(report: ReleaseReport) -> None:
    if not report.ok:
        failed = sum(o.status == "failed" for o in report.outcomes) + report.assets("failed")
        refused = report.assets("refused")
        raise PublishIncomplete(
            f"GitHub releases incomplete: {failed} failed, {refused} refused",
            failed=failed,
            refused=refused,
        )

"""The classic channel behind the channel contract: index.yaml fed from archives.

Where each entry points depends on ``channels.pages.packages``: at the
archive's GitHub release asset (the URL exactly as GitHub reports it, so the
release has to exist first), or at the archive placed beside index.yaml.
What the channel holds is read from the served index.yaml, as helm users see
it; what publishing does is read from the pages branch, as the merge sees it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chartship.artifacts import Artifact
from chartship.channels.classic import pages as pages_mod
from chartship.channels.classic import served
from chartship.channels.contract import Holding, Key, Outcome, Status, key_of
from chartship.config import PagesSettings, Settings
from chartship.errors import (
    ChartError,
    ChartshipError,
    GithubError,
    NotFound,
    UsageError,
    VersionError,
)

#: Seconds to wait for the served index.yaml or an archive it names.
FETCH_TIMEOUT = 60.0


def pages_settings(settings: Settings) -> PagesSettings:
    if settings.channels.pages is None:
        raise UsageError("no pages channel configured: set channels.pages.index_url")
    return settings.channels.pages


def url_resolver(
    settings: Settings,
    artifacts: Sequence[Artifact],
    *,
    dry_run: bool,
    environ: Mapping[str, str] | None,
) -> dict[tuple[str, str], str]:
    """The URL each archive's index entry gets.

    A dry run may come before the release it would point at exists; the
    entry then names the release asset to come instead of failing.
    """
    pages = pages_settings(settings)
    if pages.packages == "pages":
        return {(a.chart, a.version): pages_mod.archive_url(pages, a) for a in artifacts}
    environ = os.environ if environ is None else environ
    urls: dict[tuple[str, str], str] = {}
    repo = None
    # Imported here: only an index that points at release assets needs PyGithub.
    from chartship.channels.github import channel as github_release

    for artifact in artifacts:
        try:
            repo = repo or github_release.configured_repository(settings, environ)
            urls[(artifact.chart, artifact.version)] = github_release.download_url(
                repo, settings, artifact
            )
        except GithubError:
            if not dry_run:
                raise
            tag = settings.release_tag(artifact.chart, artifact.version)
            urls[(artifact.chart, artifact.version)] = (
                f"(asset {artifact.archive.name} of the GitHub release {tag}, once created)"
            )
    return urls


@dataclass(frozen=True)
class ClassicPlan:
    """The merge a dry run made on the pages branch, and each entry's URL."""

    result: pages_mod.PagesResult
    urls: dict[Key, str]
    artifacts: tuple[Artifact, ...]

    @property
    def outcomes(self) -> dict[Key, Outcome]:
        return _outcomes(self.result, self.urls, self.artifacts)


def _outcomes(
    result: pages_mod.PagesResult, urls: Mapping[Key, str], artifacts: Sequence[Artifact]
) -> dict[Key, Outcome]:
    added = set(result.added)
    status = Status.PLANNED if result.dry_run else Status.ADDED
    found: dict[Key, Outcome] = {}
    for artifact in artifacts:
        key = key_of(artifact)
        if key in added:
            found[key] = Outcome(status, f"entry -> {urls[key]}", urls[key])
        else:
            found[key] = Outcome(Status.SKIPPED, "already in index.yaml with the same digest")
    return found


class ClassicChannel:
    """The classic channel behind the contract of :mod:`chartship.channels.contract`."""

    name = "classic"
    title = "index.yaml"

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        pull_request_branch: str | None = None,
    ) -> None:
        self.settings = settings
        self.pages = pages_settings(settings)
        self.environ = environ
        self.pull_request_branch = pull_request_branch
        #: What verify found worth saying that is no failure (a pages site still deploying).
        self.warnings: list[str] = []
        self._served: list[served.Entry] | None = None

    def served_entries(self) -> list[served.Entry]:
        """The entries of the served index.yaml, read once; none before the first release."""
        if self._served is None:
            try:
                _text, self._served = served.read_index(
                    self.pages.index_url,
                    timeout=FETCH_TIMEOUT,
                    retry_seconds=self.pages.retry_seconds,
                )
            except NotFound:
                self._served = []
        return self._served

    def held(self, keys: Sequence[Key]) -> set[Key]:
        if not keys:
            return set()
        served = {(e.chart, e.version) for e in self.served_entries()}
        return {k for k in keys if k in served}

    def lookup(self, artifact: Artifact) -> Holding | None:
        index_url = self.pages.index_url
        for entry in self.served_entries():
            if (entry.chart, entry.version) != key_of(artifact) or not entry.urls:
                continue
            if not entry.digest:
                raise VersionError(
                    f"{artifact.chart} {artifact.version} is already in the index with digest "
                    "(none), so its bytes cannot be compared; nothing was published: add the "
                    "entry's digest (sha256 of the archive) by hand",
                    path=served.index_location(index_url),
                )
            problem = served.url_problem(index_url, entry.urls[0])
            if problem is not None:
                raise ChartError(
                    f"{artifact.chart} {artifact.version} is already in the index, but {problem}; "
                    "nothing was published: fix the entry's URL",
                    path=served.index_location(index_url),
                )
            url = served.resolve(index_url, entry.urls[0])

            def fetch(url: str = url) -> bytes:
                return served.fetch(
                    url,
                    limit=served.MAX_ARCHIVE_BYTES,
                    timeout=FETCH_TIMEOUT,
                    what="archive",
                    retry_seconds=self.pages.retry_seconds,
                )

            def provenance(url: str = url) -> bytes | None:
                try:
                    return fetch(url + ".prov")
                except ChartshipError:
                    return None

            return Holding(self.title, url, entry.digest, fetch, provenance)
        return None

    def _merge(self, artifacts: Sequence[Artifact], *, dry_run: bool) -> ClassicPlan:
        urls = url_resolver(self.settings, artifacts, dry_run=dry_run, environ=self.environ)
        result = pages_mod.publish_index(
            self.settings,
            artifacts,
            url_for=lambda a: urls[key_of(a)],
            dry_run=dry_run,
            pull_request_branch=self.pull_request_branch,
            environ=self.environ,
        )
        return ClassicPlan(result, urls, tuple(artifacts))

    def plan(self, artifacts: Sequence[Artifact]) -> ClassicPlan:
        """The merge made in a scratch clone of the pages branch, pushed nowhere."""
        return self._merge(artifacts, dry_run=True)

    def publish(self, plan: ClassicPlan) -> ClassicPlan:
        """Merge and push; the merge is made again on the tip the push lands on."""
        return self._merge(plan.artifacts, dry_run=False)

    def apply(self, plan: ClassicPlan) -> dict[Key, Outcome]:
        return self.publish(plan).outcomes

    def verify(self, artifacts: Sequence[Artifact]) -> dict[Key, Outcome]:
        """The served index.yaml against the local digests.

        The branch was read back after the push; a site still deploying it is
        a warning, not a failure, since serving lags behind the branch.
        """
        index_url = self.pages.index_url
        found: dict[Key, Outcome] = {}
        try:
            _text, entries = served.read_index(
                index_url, timeout=FETCH_TIMEOUT, retry_seconds=self.pages.retry_seconds
            )
        except ChartshipError as exc:
            self.warnings.append(f"index.yaml is not served at {index_url} yet: {exc}")
            return found
        by_key = {(e.chart, e.version): e for e in entries}
        late = []
        for artifact in artifacts:
            entry = by_key.get(key_of(artifact))
            if entry is None:
                late.append(f"{artifact.chart} {artifact.version}")
            elif entry.digest != artifact.sha256:
                found[key_of(artifact)] = Outcome(
                    Status.FAILED,
                    f"served entry has digest {entry.digest}, not {artifact.sha256}",
                )
        if late:
            self.warnings.append(
                f"{', '.join(late)} not served at {index_url} yet; the pages site may "
                "still be deploying the branch"
            )
        return found

"""The classic channel's index.yaml, fed from a set of archives.

Where each entry points depends on ``channels.pages.packages``: at the
archive's GitHub release asset (the URL exactly as GitHub reports it, so the
release has to exist first), or at the archive placed beside index.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from chartship.artifacts import Artifact
from chartship.channels.classic import pages as pages_mod
from chartship.channels.github import channel as github_release
from chartship.config import PagesSettings, Settings
from chartship.errors import GithubError, UsageError


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


def publish(
    settings: Settings,
    artifacts: Sequence[Artifact],
    *,
    dry_run: bool = False,
    pull_request_branch: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[pages_mod.PagesResult, dict[tuple[str, str], str]]:
    """Merge ``artifacts`` into index.yaml on the pages branch; the result and each URL."""
    urls = url_resolver(settings, artifacts, dry_run=dry_run, environ=environ)
    result = pages_mod.publish_index(
        settings,
        artifacts,
        url_for=lambda a: urls[(a.chart, a.version)],
        dry_run=dry_run,
        pull_request_branch=pull_request_branch,
        environ=environ,
    )
    return result, urls

"""Before a release publishes anything: can every channel of the phase be completed?

What can be known without publishing is checked for every channel, and every
problem found is listed at once (:class:`~chartship.errors.ChannelsNotReady`):

- OCI: helm's flags for the registry, the registry answering, the credentials
  accepted, and a push to each chart's repository let in (an upload session
  started and cancelled: it needs the push scope a token must carry);
- GitHub release: the token set, the repository found, and the token allowed
  to push where GitHub lists the token's permissions;
- index.yaml: the pages remote configured without credentials in its URL,
  reachable, and accepting a push (``git push --dry-run``; over ssh or a local
  path that proves reading only).

A dry run checks exactly the same, with the same messages and exit status, so
it tells what the real run would refuse. What can only fail later (a registry
going down mid-run) still fails its channel alone, and a rerun completes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from chartship.channels import github as github_names
from chartship.channels.classic import pages as pages_mod
from chartship.channels.classic.channel import ClassicChannel
from chartship.channels.oci import channel as oci
from chartship.channels.oci.channel import OciChannel
from chartship.config import Settings
from chartship.errors import ChannelsNotReady, ChartshipError
from chartship.helm import Helm
from chartship.runner import Runner

if TYPE_CHECKING:
    from github.Repository import Repository

T = TypeVar("T")

#: Channel titles in publishing order, the order problems are listed in.
ORDER = (OciChannel.title, github_names.TITLE, ClassicChannel.title)


@dataclass(frozen=True)
class Ready:
    """What the checks reached, for publishing to go on with."""

    connection: oci.Connection | None = None
    repo: Repository | None = None


class Problems:
    """Each channel's first problem, gathered so that all are reported together."""

    def __init__(self) -> None:
        self.found: list[tuple[str, ChartshipError]] = []

    def attempt(self, title: str, check: Callable[[], T]) -> T | None:
        if any(found == title for found, _ in self.found):
            return None  # already known not to be ready: once is enough
        try:
            return check()
        except ChartshipError as exc:
            self.found.append((title, exc))
            return None

    def raise_any(self, what: str) -> None:
        """Refuse with every problem found, in publishing order (whoever found them)."""
        if self.found:
            rank = {title: n for n, title in enumerate(ORDER)}
            ordered = sorted(self.found, key=lambda found: rank.get(found[0], len(rank)))
            raise ChannelsNotReady(what, ordered)


def check(
    settings: Settings,
    channels: Sequence[str],
    charts: Sequence[str],
    environ: Mapping[str, str],
    *,
    helm: Helm,
    runner: Runner | None = None,
    problems: Problems | None = None,
) -> Ready:
    """Check every channel in ``channels`` for a release of ``charts``; raise listing all,
    those already in ``problems`` included."""
    problems = Problems() if problems is None else problems
    connection = None
    if OciChannel.name in channels:
        connection = problems.attempt(
            OciChannel.title, lambda: oci.preflight(settings, environ, charts, helm)
        )
    repo = None
    if github_names.NAME in channels:
        # Imported here: PyGithub is for a release that has the GitHub channel.
        from chartship.channels.github import channel as github_release

        repo = problems.attempt(
            github_names.TITLE, lambda: github_release.preflight(settings, environ)
        )
    if ClassicChannel.name in channels:
        problems.attempt(
            ClassicChannel.title,
            lambda: pages_mod.check_push(settings, runner=runner, environ=environ),
        )
    problems.raise_any("release")
    return Ready(connection, repo)

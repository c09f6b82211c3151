"""What every channel answers for a chart version, and the one outcome type they share.

A channel (OCI, GitHub releases, the classic index) is asked four things
about a set of chart versions, always in this order:

- ``lookup``: what it already holds for one version (a :class:`Holding`),
  so a rerun on a fresh machine publishes the bytes already out there;
- ``plan``: what publishing would do, read from the channel and nothing
  changed, which is exactly what a dry run prints;
- ``apply``: do that plan;
- ``verify``: read every version back and compare it with the local digest.

Each answer per version is an :class:`Outcome`: a :class:`Status` plus a
detail for people and, where the channel has them, its reference, digest and
download URL. The release summary, the GitHub Actions outputs, the separate
channel commands and the migration backfill all read this one type.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from chartship.artifacts import Artifact
from chartship.errors import PublishIncomplete

#: A chart version: (chart name, version).
Key = tuple[str, str]


def key_of(artifact: Artifact) -> Key:
    return (artifact.chart, artifact.version)


class Status(str, enum.Enum):
    """Where a channel stands for one version; the value is the word people see.

    A ``str`` enum so that a status compares equal to its word.
    """

    PUSHED = "pushed"  # OCI: the tag was written
    CREATED = "created"  # GitHub: the release was created, with its assets
    UPLOADED = "uploaded"  # GitHub: an existing release got its missing asset
    ADDED = "added"  # classic: the index entry was merged and pushed
    REPLACED = "replaced"  # other bytes were there and --force replaced them
    SKIPPED = "skipped"  # the channel already held the same bytes
    PLANNED = "planned"  # a dry run: this would be published
    REFUSED = "refused"  # the channel holds other bytes; nothing was changed
    FAILED = "failed"  # an error; the channel may lack the version
    BLOCKED = "blocked"  # waits for another channel that did not complete
    #: GitHub: the published release is immutable and lacks an asset; only a new version helps
    BEYOND_REPAIR = "beyond-repair"

    @property
    def holds(self) -> bool:
        """The channel holds the version (or, in a dry run, would)."""
        return self not in (Status.REFUSED, Status.FAILED, Status.BLOCKED, Status.BEYOND_REPAIR)

    @property
    def changed(self) -> bool:
        """Publishing wrote to the channel."""
        return self in (
            Status.PUSHED,
            Status.CREATED,
            Status.UPLOADED,
            Status.ADDED,
            Status.REPLACED,
        )

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Outcome:
    """One channel's answer for one chart version."""

    status: Status
    detail: str = ""
    #: Where the version lives in the channel: an OCI reference, a release tag, an entry URL.
    reference: str | None = None
    #: The OCI manifest digest, once known.
    manifest_digest: str | None = None
    #: The GitHub release asset's download URL, once known.
    download_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.status.holds

    def but(self, status: Status, detail: str) -> Outcome:
        """The same version's outcome with another status, keeping what was learnt."""
        return replace(self, status=status, detail=detail)


def failed(detail: str) -> Outcome:
    return Outcome(Status.FAILED, detail)


@dataclass(frozen=True)
class Holding:
    """One channel's copy of a chart version; its bytes fetched only when needed."""

    channel: str  # the channel's title, for messages
    where: str
    sha256: str
    fetch: Callable[[], bytes]
    provenance: Callable[[], bytes | None]


class Planned(Protocol):
    """A channel's plan: its own data for ``apply``, and what a dry run reports."""

    @property
    def outcomes(self) -> Mapping[Key, Outcome]: ...


PlanT = TypeVar("PlanT", bound=Planned)


class Channel(Protocol[PlanT]):
    """A publishing channel; see the module docstring for the order of the calls."""

    name: str
    title: str
    #: What verify found worth saying that is no failure.
    warnings: list[str]

    def lookup(self, artifact: Artifact) -> Holding | None: ...

    def held(self, keys: Sequence[Key]) -> set[Key]:
        """Which of these versions the channel holds, from one listing per repository."""
        ...

    def plan(self, artifacts: Sequence[Artifact]) -> PlanT: ...

    def apply(self, plan: PlanT) -> Mapping[Key, Outcome]: ...

    def verify(self, artifacts: Sequence[Artifact]) -> Mapping[Key, Outcome]:
        """An outcome per version it could read; a failed one fails the version."""
        ...


#: What to do about a version some channel holds beyond repair.
BEYOND_REPAIR_ADVICE = (
    "a published GitHub release is immutable and lacks an asset: release a new version of the chart"
)


def count(outcomes: Iterable[Outcome]) -> tuple[int, int]:
    """(failed or blocked, refused or beyond repair) among ``outcomes``."""
    failed_, refused = 0, 0
    for outcome in outcomes:
        if outcome.status in (Status.FAILED, Status.BLOCKED):
            failed_ += 1
        elif outcome.status in (Status.REFUSED, Status.BEYOND_REPAIR):
            refused += 1
    return failed_, refused


def require_complete(
    what: str, outcomes: Iterable[Outcome], *, channels: str = "", advice: str = ""
) -> None:
    """Raise :class:`PublishIncomplete` unless every outcome holds its version.

    ``what`` names the step in the message ("OCI push", "release"); with
    ``channels`` the message also names the channels that did not complete,
    and ``advice`` says what to do next.
    """
    outcomes = list(outcomes)
    failed_, refused = count(outcomes)
    if not (failed_ or refused):
        return
    if any(o.status is Status.BEYOND_REPAIR for o in outcomes):
        advice = f"{advice}; {BEYOND_REPAIR_ADVICE}" if advice else BEYOND_REPAIR_ADVICE
    middle = f"{channels} did not complete " if channels else ""
    numbers = f"{failed_} failed, {refused} refused"
    numbers = f"({numbers})" if channels else numbers
    tail = f"; {advice}" if advice else ""
    raise PublishIncomplete(
        f"{what} incomplete: {middle}{numbers}{tail}", failed=failed_, refused=refused
    )

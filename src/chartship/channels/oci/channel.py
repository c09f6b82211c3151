"""The OCI channel: plan, push (natively or with helm), read back and verify.

Helm overwrites an existing tag without a word and has no skip-existing, so
immutability is ours: every archive is checked against the registry before
anything is pushed. Same chart layer digest: already published. Another
digest: refused unless forced. Absent: pushed, then read back.

A registry has no conditional PUT, so two releases of one version with
different bytes, at the same time, could both find the tag absent and both
write it. What keeps the tag to one content, with every writer of the other
refused and no two writers reporting success for different bytes, is a time
bound, ``channels.oci.tag_window`` (W):

1. The blobs are uploaded first; then the tag is read again (by itself, or
   in a listing of its repository that the run's writers share: a listing
   that lacks the tag is a read that found it absent, :class:`TagLists`), and
   the manifest is written at once (by chartship's own PUT, or by helm) only if
   the tag is still absent. The write gets what is left of W from that read,
   less a margin for a request still in flight (:func:`in_flight`), and is
   abandoned past it (helm stopped) and tried again, reading first. So
   every write of the tag lands within W of the read that found it absent.
2. A writer that finds the tag taken never writes it: other bytes refuse the
   version, the same bytes skip it.
3. Every tag the run wrote, skipped or refused is read once more, W after the
   run last wrote or read it (:class:`Confirmer`). Holding this run's bytes:
   pushed (or skipped). Another writer's: refused, and never written again.

Why that suffices: whoever writes the tag read it absent before the first
write landed, so every write lands within W of the first one. A writer's
final read comes W after its own write or its own read of a taken tag, both
no earlier than the first write, so all writers read the last write, the one
the tag keeps, and only writers of those bytes report success. The bound
assumes the manifest's request reaches the registry in time (W is generous:
only a manifest is sent, the blobs being in place). ``--force`` writes without
reading first and is outside the protocol. Every version this run publishes
therefore waits W once before its verdict; the waits of one run overlap, with
each other and with the writes of later versions (:class:`Confirmer`).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from chartship import artifacts as artifact_mod
from chartship import safetar, versions
from chartship.artifacts import Artifact
from chartship.channels.contract import Holding, Key, Outcome, Status, key_of
from chartship.channels.oci import artifacthub
from chartship.channels.oci import config_blob as helm_config
from chartship.channels.oci.manifest import ChartManifest, chart_manifest
from chartship.channels.oci.registry import (
    HELM_CONFIG,
    HELM_CONTENT,
    HELM_PROVENANCE,
    OCI_MANIFEST,
    Credentials,
    Manifest,
    RegistryClient,
    Target,
    Tls,
)
from chartship.config import Engine, OciSettings, Settings
from chartship.errors import (
    ChartshipError,
    RegistryError,
    ToolError,
    Unavailable,
    UsageError,
)
from chartship.helm import Helm
from chartship.retrying import Budget
from chartship.runner import Runner

log = logging.getLogger("chartship")

Action = Literal["push", "skip", "refuse", "replace"]


@dataclass(frozen=True)
class PlanItem:
    artifact: Artifact
    reference: str
    action: Action
    reason: str
    remote_digest: str | None = None
    #: When the plan read the tag (``time.monotonic()``).
    seen: float | None = None


@dataclass(frozen=True)
class PushOutcome:
    """What happened to one archive, in the OCI channel's own terms."""

    item: PlanItem
    status: Status
    message: str
    manifest_digest: str | None = None
    #: When this run last wrote or read the tag (``time.monotonic()``), while its
    #: verdict waits for :class:`Confirmer`; None once judged.
    seen: float | None = None

    @property
    def result(self) -> Outcome:
        """The channel contract's outcome for this version."""
        return Outcome(
            self.status,
            f"{self.item.reference} ({self.message})",
            reference=self.item.reference,
            manifest_digest=self.manifest_digest or self.item.remote_digest,
        )


@dataclass
class PushReport:
    target: Target
    outcomes: list[PushOutcome]
    metadata: list[artifacthub.MetadataOutcome]
    dry_run: bool
    #: What the push found worth saying that is no failure (a package not public).
    warnings: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        """Archives with this status (Artifact Hub metadata is counted apart)."""
        return sum(o.status == status for o in self.outcomes)

    def results(self) -> dict[Key, Outcome]:
        """Each version's contract outcome; failed Artifact Hub metadata fails its chart."""
        found = {key_of(o.item.artifact): o.result for o in self.outcomes}
        for meta in self.metadata:
            if meta.status is Status.FAILED:
                for key, outcome in found.items():
                    if key[0] == meta.chart:
                        found[key] = outcome.but(
                            Status.FAILED, f"Artifact Hub metadata: {meta.message}"
                        )
        return found

    @property
    def ok(self) -> bool:
        metadata_failed = any(m.status is Status.FAILED for m in self.metadata)
        return not (self.count("failed") or self.count("refused") or metadata_failed)


# --------------------------------------------------------------------------- setup


def oci_settings(settings: Settings) -> OciSettings:
    if settings.channels.oci is None:
        where = f" in {settings.source}" if settings.source else ""
        raise UsageError(f"no OCI channel configured{where}: set channels.oci.repository")
    return settings.channels.oci


def credentials(oci: OciSettings, environ: Mapping[str, str]) -> Credentials | None:
    user = environ.get(oci.username_env, "")
    password = environ.get(oci.password_env, "")
    if bool(user) != bool(password):
        missing = oci.password_env if user else oci.username_env
        raise UsageError(f"registry credentials are incomplete: {missing} is not set")
    return Credentials(user, password, f"{oci.username_env}/{oci.password_env}") if user else None


def tls_options(oci: OciSettings, settings: Settings) -> Tls:
    def path(value: str | None, key: str) -> str | None:
        if value is None:
            return None
        resolved = settings.resolve(value)
        if not resolved.is_file():
            raise UsageError(f"channels.oci.{key}: {resolved} does not exist")
        return str(resolved)

    return Tls(
        plain_http=oci.plain_http,
        ca_file=path(oci.ca_file, "ca_file"),
        cert_file=path(oci.cert_file, "cert_file"),
        key_file=path(oci.key_file, "key_file"),
        insecure=oci.insecure_skip_tls_verify,
    )


@dataclass(frozen=True)
class Connection:
    """The configured OCI channel: where it is, how to reach it, a client for its API."""

    oci: OciSettings
    target: Target
    credentials: Credentials | None
    tls: Tls
    client: RegistryClient


def connect(
    settings: Settings,
    environ: Mapping[str, str],
    client_factory: Callable[..., RegistryClient] = RegistryClient,
) -> Connection:
    oci = oci_settings(settings)
    target = Target.parse(oci.repository)
    creds = credentials(oci, environ)
    tls = tls_options(oci, settings)
    client = client_factory(
        target.host,
        tls=tls,
        credentials=creds,
        timeout=oci.timeout,
        retry_seconds=oci.retry_seconds,
        variables=f"{oci.username_env}/{oci.password_env}",
    )
    return Connection(oci, target, creds, tls, client)


def preflight(
    settings: Settings,
    environ: Mapping[str, str],
    charts: Sequence[str],
    helm: Helm,
    *,
    client_factory: Callable[..., RegistryClient] = RegistryClient,
) -> Connection:
    """Everything a push of ``charts`` needs that can be known without pushing.

    This helm's flags for the registry, the registry answering, the
    credentials accepted, and each chart's repository letting a push in
    (:meth:`RegistryClient.may_push`). The connection is returned for the
    push to go on with.
    """
    connection = connect(settings, environ, client_factory)
    if connection.oci.engine == "helm":
        for login in (True, False):
            # helm before 3.13 has no way to push over plain HTTP to a host that is not loopback.
            _tls_flags(helm, connection.target.host, connection.tls, login=login)
    connection.client.ping()
    for chart in sorted(set(charts)):
        connection.client.may_push(connection.target.repository(chart))
    return connection


def _tls_flags(helm: Helm, host: str, tls: Tls, *, login: bool) -> list[str]:
    """helm's flags for this registry's TLS settings, as this helm version spells them."""
    flags: list[str] = []
    if tls.plain_http:
        flags += helm.capabilities.plain_http_flags(host, login=login)
    if tls.ca_file:
        flags += ["--ca-file", tls.ca_file]
    if tls.cert_file:
        flags += ["--cert-file", tls.cert_file]
    if tls.key_file:
        flags += ["--key-file", tls.key_file]
    if tls.insecure:
        flags.append("--insecure" if login else "--insecure-skip-tls-verify")
    return flags


@contextmanager
def logged_in(
    helm: Helm, host: str, creds: Credentials | None, tls: Tls, *, retry_seconds: float = 10.0
) -> Iterator[Helm]:
    """A helm whose registry config holds exactly this login, discarded afterwards.

    The password reaches helm on standard input; the throwaway config keeps it
    out of the user's own helm registry config.
    """
    if creds is None:
        yield helm
        return
    with tempfile.TemporaryDirectory(prefix="chartship-registry-") as tmp:
        config = str(Path(tmp) / "config.json")
        scoped = Helm(
            helm.binary, runner=helm.runner, env={**helm.env, "HELM_REGISTRY_CONFIG": config}
        )
        argv = ["registry", "login", host, "--username", creds.username, "--password-stdin"]
        budget = Budget(retry_seconds)
        while True:
            try:
                scoped.run(
                    [*argv, *_tls_flags(scoped, host, tls, login=True)],
                    stdin=creds.password,
                    secrets=(creds.password,),
                )
                break
            except ToolError as exc:
                if transient(exc.output) and budget.pause():
                    continue
                raise RegistryError(
                    f"registry {host}: helm registry login as {creds.username} failed: "
                    f"{_last_line(exc.output)}"
                ) from None
        yield scoped


#: What helm prints when a registry or the network failed for the moment, as
#: opposed to refusing (credentials, TLS, a name it rejects): worth another try.
_TRANSIENT_OUTPUT = re.compile(
    r"status code (?:408|429|5\d\d)|connection reset|connection refused|broken pipe"
    r"|\bEOF\b|i/o timeout|Client\.Timeout|TLS handshake timeout|server closed",
    re.IGNORECASE,
)


def transient(output: str) -> bool:
    """Whether helm's output says the failure may pass if the command runs again."""
    return _TRANSIENT_OUTPUT.search(output) is not None


class Circuit:
    """Shared by the pushes of one run: once one of them has seen the registry fail
    for its whole retry budget, the ones not started yet are not attempted, so a
    registry that is down fails a run of hundreds of versions in one budget's time.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._lock = threading.Lock()

    def open(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


# --------------------------------------------------------------------------- plan


def _matches(artifact: Artifact, manifest: Manifest) -> tuple[bool, str]:
    content = manifest.layers(HELM_CONTENT)
    if manifest.config_media_type != HELM_CONFIG or len(content) != 1:
        return False, "the tag holds something that is not a helm chart"
    remote = content[0].get("digest")
    if remote != artifact.digest:
        return False, f"the tag holds chart layer {remote}, the local archive is {artifact.digest}"
    if artifact.provenance_digest is not None:
        prov = manifest.layers(HELM_PROVENANCE)
        remote_prov = prov[0].get("digest") if prov else None
        if remote_prov != artifact.provenance_digest:
            return False, "the chart layer matches but the provenance layer differs or is missing"
    return True, "already published with the same chart layer digest"


def plan(
    client: RegistryClient, target: Target, artifacts: Sequence[Artifact], *, force: bool
) -> list[PlanItem]:
    """Read the registry and decide, per archive, what a push must do.

    One tag listing per chart repository; only a tag it holds is read by
    itself, to compare what it holds.
    """
    items: list[PlanItem] = []
    listed = {
        chart: frozenset(client.tags(target.repository(chart)))
        for chart in sorted({a.chart for a in artifacts})
    }
    for artifact in artifacts:
        tag = versions.oci_tag(artifact.version)
        reference = target.reference(artifact.chart, tag)
        seen = time.monotonic()
        manifest = (
            client.manifest(target.repository(artifact.chart), tag)
            if tag in listed[artifact.chart]
            else None
        )
        if manifest is None:
            items.append(PlanItem(artifact, reference, "push", "not in the registry yet"))
            continue
        same, reason = _matches(artifact, manifest)
        if same:
            items.append(PlanItem(artifact, reference, "skip", reason, manifest.digest, seen))
        elif force:
            items.append(
                PlanItem(
                    artifact,
                    reference,
                    "replace",
                    reason + "; --force replaces it",
                    manifest.digest,
                )
            )
        else:
            items.append(
                PlanItem(
                    artifact,
                    reference,
                    "refuse",
                    reason + "; tags are immutable here (--force replaces)",
                    manifest.digest,
                    seen,
                )
            )
    return items


# --------------------------------------------------------------------------- apply


def verify_published(client: RegistryClient, target: Target, artifact: Artifact) -> Manifest:
    """Read the pushed tag back and check it is exactly the local archive."""
    repository = target.repository(artifact.chart)
    tag = versions.oci_tag(artifact.version)
    manifest = client.manifest(repository, tag)
    where = target.reference(artifact.chart, tag)
    if manifest is None:
        raise RegistryError(f"read-back: {where} is missing right after the push")
    if manifest.config_media_type != HELM_CONFIG:
        raise RegistryError(
            f"read-back: {where} has config media type {manifest.config_media_type}"
        )
    same, reason = _matches(artifact, manifest)
    if not same:
        raise RegistryError(f"read-back: {where}: {reason}")
    if artifact.provenance_digest is None and manifest.layers(HELM_PROVENANCE):
        raise RegistryError(
            f"read-back: {where} carries a provenance layer the local archive has not"
        )
    return manifest


def chart_yaml(artifact: Artifact) -> Mapping[str, Any]:
    """The archive's Chart.yaml, read safely once: the one the artifact carries, if any."""
    if artifact.chart_yaml is not None:
        return artifact.chart_yaml
    return safetar.inspect_chart_archive(artifact.content, source=str(artifact.archive)).chart


def native_manifest(artifact: Artifact) -> tuple[ChartManifest | None, str]:
    """The manifest ``helm push`` would write for this archive, or None and why
    chartship leaves the archive to ``helm push``."""
    try:
        chart = chart_yaml(artifact)
    except ChartshipError as exc:
        return None, f"its Chart.yaml could not be read ({exc})"
    # helm stamps the file it is given; without a known mtime that file is new.
    mtime = artifact.mtime if artifact.mtime is not None else time.time()
    built = chart_manifest(artifact.content, chart, artifact.provenance_content, mtime)
    if built is not None:
        return built, ""
    if chart.get("apiVersion") not in ("v1", "v2"):
        return None, f"apiVersion {chart.get('apiVersion')!r} is one helm's loader rewrites"
    return None, "a Chart.yaml value is one helm converts or sanitises"


def _upload_blobs(
    client: RegistryClient, target: Target, artifact: Artifact, built: ChartManifest | None
) -> None:
    """Upload every blob of the manifest about to be written, with our own retried requests.

    For ``helm push``: helm cannot repeat a blob upload that failed half-way;
    finding them all present, it only sends the manifest (see
    :mod:`chartship.channels.oci.config_blob`).
    """
    repository = target.repository(artifact.chart)
    if built is not None:
        for blob in built.blobs:
            client.put_blob(repository, blob)
        return
    client.put_blob(repository, artifact.content)
    try:
        chart = chart_yaml(artifact)
    except ChartshipError:
        chart = {}
    config = helm_config.config_bytes(chart)
    if config is not None:
        client.put_blob(repository, config)
    if artifact.provenance_content is not None:
        client.put_blob(repository, artifact.provenance_content)


#: Said of a push that neither failed for certain nor could be read back: a
#: lost answer may hide a manifest that landed.
UNKNOWN = "state unknown until the next run reads the tag"


def in_flight(window: float) -> float:
    """What of ``window`` is kept for a request helm sent just before it was stopped."""
    return min(1.0, window / 4)


def _stopped(exc: ToolError) -> bool:
    """helm ran out of its time and was stopped (the runner's timeout), not refused."""
    return exc.returncode is None and not exc.output


class _Retry(Exception):
    """A write that failed for the moment or ran out of time: worth another go."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _Refused(Exception):
    """A write the registry or helm refused: no other go."""


class Writer:
    """How one tag gets written within a deadline: by chartship's own manifest PUT
    (``native``) or by ``helm push`` (``helm``)."""

    engine = "helm"

    def write(self, left: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class NativeWriter(Writer):
    engine = "native"

    def __init__(self, client: RegistryClient, repository: str, tag: str, built: ChartManifest):
        self.client, self.repository, self.tag, self.built = client, repository, tag, built

    def write(self, left: float) -> None:
        try:
            self.client.put_manifest(
                self.repository,
                self.tag,
                self.built.raw,
                OCI_MANIFEST,
                deadline=time.monotonic() + left,
            )
        except RegistryError as exc:
            if exc.transient:
                raise _Retry(str(exc)) from None
            raise _Refused(f"manifest upload failed: {exc}") from None


class HelmWriter(Writer):
    def __init__(self, helm: Helm, artifact: Artifact, target: Target, tls: Tls, window: float):
        self.window = window
        self.helm = helm
        flags = _tls_flags(helm, target.host, tls, login=False)
        self._copy = artifact_mod.private_copy(artifact)
        self.argv = ["push", str(self._copy.__enter__()), target.url, *flags]

    def write(self, left: float) -> None:
        try:
            self.helm.run(self.argv, timeout=left)
        except ToolError as exc:
            detail = _last_line(exc.output) if exc.output.strip() else exc.message
            if _stopped(exc):
                raise _Retry(
                    f"helm did not write the tag within channels.oci.tag_window "
                    f"({self.window:g}s) and was stopped"
                ) from None
            if transient(exc.output):
                raise _Retry(detail) from None
            raise _Refused(f"helm push failed: {detail}") from None

    def close(self) -> None:
        self._copy.__exit__(None, None, None)


class HelmWhenNeeded:
    """A helm logged in to the registry, started the first time an archive needs
    ``helm push`` (never, when the native engine writes every manifest)."""

    def __init__(self, connection: Connection, make: Callable[[], Helm]) -> None:
        self.connection = connection
        self._make = make
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._helm: Helm | None = None

    def get(self) -> Helm:
        with self._lock:
            if self._helm is None:
                helm = self._make()
                helm.require_supported()
                conn = self.connection
                self._helm = self._stack.enter_context(
                    logged_in(
                        helm,
                        conn.target.host,
                        conn.credentials,
                        conn.tls,
                        retry_seconds=conn.oci.retry_seconds,
                    )
                )
            return self._helm

    def close(self) -> None:
        self._stack.close()


class TagLists:
    """The tag listings a run's writers share as their read before a write.

    A listing that found a tag absent is a read of that tag like a manifest
    GET (the module docstring's step 1): the write gets what is left of the
    window from the moment the listing was asked for. One listing of a
    repository serves every write of it that starts within ``fresh`` seconds,
    so a run of hundreds of versions reads a handful of listings instead of a
    manifest per version; a tag the listing holds is read by itself, to
    compare its content. That takes the listing to be as current as a
    manifest read, as distribution's is (both read the same tag links); a
    registry that served listings from a cache older than the in-flight
    margin (:func:`in_flight`) would need the per-tag read back.
    """

    def __init__(self, client: RegistryClient, *, fresh: float) -> None:
        self.client, self.fresh = client, fresh
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._taken: dict[str, tuple[float, frozenset[str]]] = {}

    def absent_since(self, repository: str, tag: str) -> float | None:
        """When a listing found ``tag`` absent (``time.monotonic()``); None: it is there."""
        with self._lock:
            lock = self._locks.setdefault(repository, threading.Lock())
        # Writers of one repository wait for one listing rather than each ask for theirs.
        with lock:
            taken = self._taken.get(repository)
            if taken is None or time.monotonic() - taken[0] > self.fresh:
                asked = time.monotonic()
                taken = (asked, frozenset(self.client.tags(repository)))
                self._taken[repository] = taken
        asked, tags = taken
        return None if tag in tags else asked


def push_one(
    helm: HelmWhenNeeded | Helm,
    client: RegistryClient,
    target: Target,
    tls: Tls,
    item: PlanItem,
    circuit: Circuit | None = None,
    *,
    window: float = 5.0,
    engine: Engine = "helm",
    tags: TagLists | None = None,
) -> PushOutcome:
    """Write one tag; the verdict comes from :class:`Confirmer` afterwards.

    ``engine`` ``native`` writes the manifest helm would write with chartship's
    own requests; an archive whose manifest chartship cannot reproduce (see
    :func:`native_manifest`), or ``engine`` ``helm``, is written by ``helm push``.

    The tag is looked at right before the write, which gets what is left of
    ``window`` from that look (see the module docstring): another writer's
    manifest found there refuses the version, the same bytes skip it. A write
    that failed for the moment or ran out of time runs again within the
    registry's retry budget, looking again first: the same bytes with the same
    mtime make the same manifest, so repeating it is harmless, and a write that
    landed with only its answer lost is found. With ``tags``, the first look
    before a native write is the run's shared listing of the repository
    (:class:`TagLists`).
    """
    circuit = circuit or Circuit()
    if circuit.reason is not None:
        return PushOutcome(item, Status.FAILED, f"not attempted: {circuit.reason}")
    artifact = item.artifact
    built, why = native_manifest(artifact) if engine == "native" else (None, "")
    repository = target.repository(artifact.chart)
    tag = versions.oci_tag(artifact.version)
    writer: Writer
    try:
        # helm first: an archive it cannot write sends nothing to the registry.
        if built is not None:
            writer = NativeWriter(client, repository, tag, built)
        else:
            if why:
                log.warning("%s: written by helm push: %s", item.reference, why)
            authed = helm.get() if isinstance(helm, HelmWhenNeeded) else helm
            writer = HelmWriter(authed, artifact, target, tls, window)
    except ChartshipError as exc:
        return PushOutcome(item, Status.FAILED, exc.message)
    try:
        _upload_blobs(client, target, artifact, built)
    except Unavailable as exc:
        writer.close()
        circuit.open(f"the registry kept failing the uploads of {item.reference}")
        return PushOutcome(item, Status.FAILED, f"upload failed: {exc}")
    except RegistryError as exc:
        writer.close()
        return PushOutcome(item, Status.FAILED, f"upload failed: {exc}")
    try:
        # A helm process takes a good part of the window to write: it reads the tag
        # itself, right before, to keep all of what is left for the write.
        shared = tags if writer.engine == "native" else None
        return _write(writer, client, item, repository, tag, circuit, window, why, shared)
    finally:
        writer.close()


def _write(
    writer: Writer,
    client: RegistryClient,
    item: PlanItem,
    repository: str,
    tag: str,
    circuit: Circuit,
    window: float,
    why: str,
    tags: TagLists | None = None,
) -> PushOutcome:
    artifact = item.artifact
    budget = Budget(client.retry_seconds)
    deadline = window - in_flight(window)
    wrote: float | None = None  # when our last write ended: what it wrote had landed by then
    while True:
        looked = time.monotonic()
        if item.action == "push":
            try:
                # After a write, only the tag itself tells whether it landed.
                listed = tags.absent_since(repository, tag) if tags and wrote is None else None
                if listed is not None:
                    looked, held = listed, None
                else:
                    looked = time.monotonic()
                    held = client.manifest(repository, tag)
            except ChartshipError as exc:
                # After a write, it may have landed before the answer was lost.
                unknown = f" ({UNKNOWN})" if wrote is not None else ""
                return PushOutcome(item, Status.FAILED, f"reading the tag failed{unknown}: {exc}")
            if held is not None:
                same, reason = _matches(artifact, held)
                if wrote is not None:
                    break  # ours landed, or someone's: the Confirmer tells
                if same:
                    return PushOutcome(
                        item,
                        Status.SKIPPED,
                        "published meanwhile with the same bytes",
                        held.digest,
                        seen=looked,
                    )
                return PushOutcome(
                    item,
                    Status.REFUSED,
                    f"another writer published it meanwhile: {reason}; nothing was written",
                    held.digest,
                    seen=looked,
                )
        left = deadline - (time.monotonic() - looked)
        try:
            if left <= 0:
                raise _Retry("no time left in the tag window after reading the tag")
            writer.write(left)
            wrote = time.monotonic()
            break
        except _Refused as exc:
            return PushOutcome(item, Status.FAILED, str(exc))
        except _Retry as exc:
            wrote = time.monotonic()
            if not budget.pause():
                reason = (
                    f"the registry failed {budget.attempts} push attempt(s) of "
                    f"{item.reference} within {client.retry_seconds:g}s"
                )
                circuit.open(reason)
                return PushOutcome(
                    item,
                    Status.FAILED,
                    f"{_what(writer)} failed: {exc.detail} ({reason}; {UNKNOWN})",
                )
            log.info(
                "%s: %s failed for the moment (%s); trying again",
                item.reference,
                _what(writer),
                exc.detail,
            )
    status = Status.REPLACED if item.action == "replace" else Status.PUSHED
    # Said when the native engine had to leave this archive to helm.
    message = f"pushed by helm push ({why})" if why else "pushed"
    if budget.attempts:
        message += f" (after {budget.attempts} failed attempt(s))"
    if status is Status.REPLACED:
        message = f"REPLACED {item.remote_digest} (forced)"
        log.warning("%s: forced over the existing manifest %s", item.reference, item.remote_digest)
    return PushOutcome(item, status, message, seen=wrote)


def _what(writer: Writer) -> str:
    return "the manifest upload" if writer.engine == "native" else "helm push"


def write_all(
    connection: Connection,
    items: Iterable[PlanItem],
    make_helm: Callable[[], Helm],
    *,
    workers: int,
    done: Callable[[PushOutcome], None] | None = None,
) -> list[PushOutcome]:
    """Write every item's tag (see :func:`push_one`), ``workers`` at a time, with one
    circuit and at most one helm login for the run; the engine is ``channels.oci.engine``.

    ``items`` may be an iterator still producing (a backfill's downloads): each item
    is handed to a worker as soon as it comes.
    """
    oci, client, target = connection.oci, connection.client, connection.target
    circuit = Circuit()
    helm = HelmWhenNeeded(connection, make_helm)
    # Fresh for half of what a write may take: every write keeps at least the other half.
    tags = TagLists(client, fresh=(oci.tag_window - in_flight(oci.tag_window)) / 2)

    def one(item: PlanItem) -> PushOutcome:
        outcome = push_one(
            helm,
            client,
            target,
            connection.tls,
            item,
            circuit,
            window=oci.tag_window,
            engine=oci.engine,
            tags=tags,
        )
        if done is not None:
            done(outcome)
        return outcome

    coming = iter(items)
    first = next(coming, None)
    if first is None:
        return []
    try:
        if oci.engine == "helm":
            # Every archive needs helm: an unsupported or failing one (its login)
            # stops the run before anything reaches the registry.
            helm.get()
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return list(pool.map(one, itertools.chain([first], coming)))
    finally:
        helm.close()


class Confirmer:
    """Judges each tag a window after this run last wrote or read it (see the module
    docstring), in threads of its own, so the verdicts on the first tags of a run are
    read while later ones are still being written: a run waits out one window after
    its last write, not one after all of its writes.

    Tags are judged in the order they are handed over; each handed over soon after
    it was written or looked at, so a judge waiting out one tag's window holds back
    only tags due later still.
    """

    def __init__(
        self, client: RegistryClient, target: Target, *, window: float, workers: int
    ) -> None:
        self.client, self.target, self.window = client, target, window
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers))

    def judge(self, outcome: PushOutcome) -> Future[PushOutcome]:
        return self._pool.submit(self._judge, outcome)

    def _judge(self, outcome: PushOutcome) -> PushOutcome:
        if outcome.seen is None:
            return outcome
        wait = outcome.seen + self.window - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, self.window))
        return _judged(self.client, self.target, outcome)

    def __enter__(self) -> Confirmer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)


def publish(
    connection: Connection,
    items: Iterable[PlanItem],
    make_helm: Callable[[], Helm],
    *,
    workers: int,
    done: Callable[[PushOutcome], None] | None = None,
    settled: Sequence[PushOutcome] = (),
) -> list[PushOutcome]:
    """:func:`write_all` with each tag written judged (:class:`Confirmer`) as soon as
    its own window has passed. ``settled`` (tags the plan found taken) are judged
    alike; the verdicts come in the order of ``settled``, then ``items``.

    The tag holding this run's bytes: pushed (or skipped). Holding another
    writer's: refused, and never written again. Missing after a push: failed.
    """
    window = connection.oci.tag_window
    with Confirmer(connection.client, connection.target, window=window, workers=workers) as c:
        early = [c.judge(o) for o in settled]
        judged: dict[int, Future[PushOutcome]] = {}

        def written(outcome: PushOutcome) -> None:
            judged[id(outcome)] = c.judge(outcome)
            if done is not None:
                done(outcome)

        outcomes = write_all(connection, items, make_helm, workers=workers, done=written)
        return [f.result() for f in early] + [judged[id(o)].result() for o in outcomes]


def _judged(client: RegistryClient, target: Target, outcome: PushOutcome) -> PushOutcome:
    item, artifact = outcome.item, outcome.item.artifact
    wrote = outcome.status in (Status.PUSHED, Status.REPLACED)
    try:
        manifest = verify_published(client, target, artifact)
    except ChartshipError as exc:
        held = _held(client, target, artifact)
        if outcome.status is Status.REFUSED:
            return outcome
        if held is not None and not _matches(artifact, held)[0]:
            what = "wrote it at the same time" if wrote else "replaced it meanwhile"
            return PushOutcome(
                item,
                Status.REFUSED,
                f"another writer {what}: {_matches(artifact, held)[1]}; the tag keeps "
                "theirs and this run never writes it again (a version is published once: "
                "stamp a new one)",
                held.digest,
            )
        if wrote:
            # helm reported success: the tag may well hold the archive; only a
            # rerun, which reads it first, can tell.
            return PushOutcome(
                item, Status.FAILED, f"pushed, but the read-back failed ({UNKNOWN}): {exc}"
            )
        return PushOutcome(item, Status.FAILED, str(exc))
    if outcome.status is Status.REFUSED:
        return PushOutcome(
            item,
            Status.SKIPPED,
            "another writer published these same bytes meanwhile",
            manifest.digest,
        )
    message = outcome.message
    if outcome.status is not Status.SKIPPED:
        message += " and verified"
    return PushOutcome(item, outcome.status, message, manifest.digest)


def _held(client: RegistryClient, target: Target, artifact: Artifact) -> Manifest | None:
    """What the tag holds, if a helm chart can be read there."""
    try:
        return client.manifest(
            target.repository(artifact.chart), versions.oci_tag(artifact.version)
        )
    except ChartshipError:
        return None


_DRY_RUN_STATUS = {
    "push": Status.PLANNED,
    "replace": Status.PLANNED,
    "skip": Status.SKIPPED,
    "refuse": Status.REFUSED,
}


@dataclass(frozen=True)
class OciPlan:
    """What pushing would do: one item per archive, and the Artifact Hub files to push."""

    items: list[PlanItem]
    metadata: dict[str, Path]
    planned: list[PushOutcome]
    metadata_planned: list[artifacthub.MetadataOutcome]

    @property
    def outcomes(self) -> dict[Key, Outcome]:
        return {key_of(o.item.artifact): o.result for o in self.planned}


class OciChannel:
    """The OCI channel behind the contract of :mod:`chartship.channels.contract`."""

    name = "oci"
    title = "OCI"

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        force: bool = False,
        connection: Connection | None = None,
        helm: Helm | None = None,
        runner: Runner | None = None,
        client_factory: Callable[..., RegistryClient] = RegistryClient,
    ) -> None:
        self.warnings: list[str] = []
        self.settings = settings
        self.force = force
        self.connection = connection or connect(settings, environ, client_factory)
        self.runner = runner
        self.helm = helm

    def lookup(self, artifact: Artifact) -> Holding | None:
        conn = self.connection
        repository = conn.target.repository(artifact.chart)
        tag = versions.oci_tag(artifact.version)
        manifest = conn.client.manifest(repository, tag)
        if manifest is None:
            return None
        layers = manifest.layers(HELM_CONTENT)
        if not layers:
            return None
        digest = str(layers[0].get("digest", ""))
        prov = manifest.layers(HELM_PROVENANCE)
        prov_digest = str(prov[0].get("digest", "")) if prov else None

        def provenance() -> bytes | None:
            return conn.client.blob(repository, prov_digest) if prov_digest else None

        return Holding(
            self.title,
            conn.target.reference(artifact.chart, tag),
            digest.removeprefix("sha256:"),
            lambda: conn.client.blob(repository, digest),
            provenance,
        )

    def _listings(self, charts: Sequence[str], workers: int) -> dict[str, list[str]]:
        """Each chart repository's tags, one listing each, ``workers`` at once over the
        client's pooled connections: each is one small request, mostly waiting."""
        client, target = self.connection.client, self.connection.target

        def listed(chart: str) -> list[str]:
            return client.tags(target.repository(chart))

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(charts)))) as pool:
            return dict(zip(charts, pool.map(listed, charts), strict=True))

    def held(self, keys: Sequence[Key]) -> set[Key]:
        """Which of ``keys`` the registry holds: one tag listing per chart's repository,
        ``channels.oci.workers`` at once, as pushes run."""
        listed = self._listings(sorted({chart for chart, _ in keys}), self.connection.oci.workers)
        tags = {chart: set(found) for chart, found in listed.items()}
        return {k for k in keys if versions.oci_tag(k[1]) in tags[k[0]]}

    def chart_layers(
        self, charts: Sequence[str], *, workers: int
    ) -> dict[tuple[str, str], str | None]:
        """Every SemVer tag of these charts and its chart layer digest (None: not a chart)."""
        client, target = self.connection.client, self.connection.target
        wanted = [
            (chart, tag)
            for chart, tags in self._listings(charts, workers).items()
            for tag in tags
            if versions.is_valid(tag.replace("_", "+"))
        ]

        def layer(item: tuple[str, str]) -> tuple[Key, str | None]:
            chart, tag = item
            manifest = client.manifest(target.repository(chart), tag)
            content = manifest.layers(HELM_CONTENT) if manifest is not None else []
            digest = content[0].get("digest") if len(content) == 1 else None
            return (chart, tag.replace("_", "+")), str(digest) if digest else None

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return dict(pool.map(layer, wanted))

    def plan(self, artifacts: Sequence[Artifact]) -> OciPlan:
        client, target = self.connection.client, self.connection.target
        items = plan(client, target, artifacts, force=self.force)
        sources = artifacthub.metadata_sources(self.settings, sorted({a.chart for a in artifacts}))
        planned = [
            PushOutcome(item, _DRY_RUN_STATUS[item.action], item.reason, item.remote_digest)
            for item in items
        ]
        metadata = [
            artifacthub.push_metadata(client, target, chart, source, dry_run=True)
            for chart, source in sources.items()
        ]
        return OciPlan(items, sources, planned, metadata)

    def push(self, plan: OciPlan) -> PushReport:
        """Carry out ``plan``: push what it must, with helm, and read each push back."""
        registry = self.connection
        target, client = registry.target, registry.client
        report = PushReport(target, [], [], dry_run=False)
        runner = self.runner or Runner()
        work = [i for i in plan.items if i.action in ("push", "replace")]
        done = [
            dataclasses.replace(o, seen=o.item.seen)
            for o in plan.planned
            if o.item.action in ("skip", "refuse")
        ]
        report.outcomes.extend(
            publish(
                registry,
                work,
                lambda: self.helm or Helm(self.settings.helm_binary, runner=runner),
                workers=registry.oci.workers,
                settled=done,
            )
        )
        report.outcomes[:] = self._visibility(report.outcomes, report.warnings)
        for chart, source in plan.metadata.items():
            report.metadata.append(
                artifacthub.push_metadata(client, target, chart, source, dry_run=False)
            )
        order = {id(item): n for n, item in enumerate(plan.items)}
        report.outcomes.sort(key=lambda o: order[id(o.item)])
        return report

    def _visibility(self, outcomes: list[PushOutcome], warnings: list[str]) -> list[PushOutcome]:
        """Read each chart repository this run pushed to as anyone would, without
        credentials: a package that is not public is a warning, or with
        ``channels.oci.public: true`` a failure of its versions (checked then
        on every run, skipped versions included). ``public: false`` reads nothing.
        """
        public = self.connection.oci.public
        if public is False:
            return outcomes
        held = (Status.PUSHED, Status.REPLACED) + ((Status.SKIPPED,) if public else ())
        first: dict[str, PushOutcome] = {}
        for outcome in outcomes:
            if outcome.status in held:
                first.setdefault(outcome.item.artifact.chart, outcome)
        if not first:
            return outcomes
        target = self.connection.target
        anonymous = self.connection.client.anonymous()
        private: dict[str, str] = {}
        for chart, outcome in first.items():
            tag = versions.oci_tag(outcome.item.artifact.version)
            try:
                refused = anonymous.refusal(target.repository(chart), tag)
            except ChartshipError as exc:
                message = f"could not tell whether {outcome.item.reference} is public: {exc}"
                warnings.append(message)
                self.warnings.append(message)
                continue
            if refused is None:
                continue
            message = not_public(target, chart, outcome.item.reference, refused, public=public)
            if public:
                private[chart] = message
            else:
                warnings.append(message)
                self.warnings.append(message)
        return [
            PushOutcome(o.item, Status.FAILED, private[o.item.artifact.chart], o.manifest_digest)
            if o.item.artifact.chart in private and o.status in held
            else o
            for o in outcomes
        ]

    def apply(self, plan: OciPlan) -> dict[Key, Outcome]:
        return self.push(plan).results()

    def verify(self, artifacts: Sequence[Artifact]) -> dict[Key, Outcome]:
        conn = self.connection
        found: dict[Key, Outcome] = {}
        for artifact in artifacts:
            reference = conn.target.reference(artifact.chart, versions.oci_tag(artifact.version))
            try:
                manifest = verify_published(conn.client, conn.target, artifact)
            except ChartshipError as exc:
                found[key_of(artifact)] = Outcome(Status.FAILED, f"verify: {exc}", reference)
                continue
            found[key_of(artifact)] = Outcome(
                Status.SKIPPED, "read back", reference, manifest_digest=manifest.digest
            )
        return found


def not_public(
    target: Target, chart: str, reference: str, refused: str, *, public: bool | None
) -> str:
    """What to say of a chart repository anonymous clients cannot read, and how to open it."""
    repository = target.repository(chart)
    if target.host == "ghcr.io":
        owner, _, package = repository.partition("/")
        how = (
            f"GitHub packages start private: open https://github.com/{owner}?tab=packages, "
            f"package {package}, Package settings, Change visibility to public"
        )
    else:
        how = (
            f"make the repository {repository} public in {target.host}'s settings (quay.io: "
            "Settings, Repository visibility; Docker Hub: Settings, Visibility settings)"
        )
    said = f"{reference} is not public: an anonymous read {refused}, so `helm pull` without "
    said += f"credentials fails there; {how}"
    if public:
        return said + " (channels.oci.public is true, which requires it)"
    return said + (
        "; channels.oci.public: true makes this a failure, channels.oci.public: false says the "
        "package is private on purpose"
    )


def push(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    force: bool = False,
    helm: Helm | None = None,
    runner: Runner | None = None,
    environ: Mapping[str, str] | None = None,
    client_factory: Callable[..., RegistryClient] = RegistryClient,
    artifacts: Sequence[Artifact] | None = None,
) -> PushReport:
    """Push ``artifacts`` (default: the archives in dist/) to the OCI channel.

    See the module docstring.
    """
    environ = os.environ if environ is None else environ
    if artifacts is None:
        artifacts = artifact_mod.from_dist(settings, names)
    helm = helm or Helm(settings.helm_binary, runner=runner)
    # A dry run checks what the push checks first, so it refuses what the push would.
    connection = preflight(
        settings, environ, [a.chart for a in artifacts], helm, client_factory=client_factory
    )
    channel = OciChannel(
        settings, environ, force=force, connection=connection, helm=helm, runner=runner
    )
    planned = channel.plan(artifacts)
    if dry_run:
        target = channel.connection.target
        return PushReport(target, list(planned.planned), list(planned.metadata_planned), True)
    return channel.push(planned)

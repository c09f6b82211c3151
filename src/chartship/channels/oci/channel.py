"""The OCI channel: plan, push with helm, read back and verify.

Helm overwrites an existing tag without a word and has no skip-existing, so
immutability is ours: every archive is checked against the registry before
anything is pushed. Same chart layer digest: already published. Another
digest: refused unless forced. Absent: pushed, then read back.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chartship import artifacts as artifact_mod
from chartship import charts as chartfiles
from chartship import safetar, versions
from chartship.artifacts import Artifact
from chartship.channels.oci import config_blob as helm_config
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
    sha256_digest,
)
from chartship.config import OciSettings, Settings
from chartship.errors import (
    ChartshipError,
    PublishIncomplete,
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
Status = Literal["pushed", "replaced", "skipped", "refused", "failed", "planned"]

ARTIFACTHUB_FILE = "artifacthub-repo.yml"
ARTIFACTHUB_TAG = "artifacthub.io"
ARTIFACTHUB_CONFIG = "application/vnd.cncf.artifacthub.config.v1+yaml"
ARTIFACTHUB_LAYER = "application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml"


@dataclass(frozen=True)
class PlanItem:
    artifact: Artifact
    reference: str
    action: Action
    reason: str
    remote_digest: str | None = None


@dataclass(frozen=True)
class Outcome:
    item: PlanItem
    status: Status
    message: str
    manifest_digest: str | None = None


@dataclass(frozen=True)
class MetadataOutcome:
    chart: str
    reference: str
    status: Literal["pushed", "skipped", "planned", "failed"]
    message: str


@dataclass
class PushReport:
    target: Target
    outcomes: list[Outcome]
    metadata: list[MetadataOutcome]
    dry_run: bool

    def count(self, status: str) -> int:
        """Archives with this status (Artifact Hub metadata is counted apart)."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        metadata_failed = any(m.status == "failed" for m in self.metadata)
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
    )
    return Connection(oci, target, creds, tls, client)


def _tls_flags(tls: Tls, *, login: bool) -> list[str]:
    flags: list[str] = []
    if tls.plain_http:
        flags.append("--plain-http")
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
                    [*argv, *_tls_flags(tls, login=True)],
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
    """Read the registry and decide, per archive, what a push must do."""
    items: list[PlanItem] = []
    for artifact in artifacts:
        tag = versions.oci_tag(artifact.version)
        reference = target.reference(artifact.chart, tag)
        manifest = client.manifest(target.repository(artifact.chart), tag)
        if manifest is None:
            items.append(PlanItem(artifact, reference, "push", "not in the registry yet"))
            continue
        same, reason = _matches(artifact, manifest)
        if same:
            items.append(PlanItem(artifact, reference, "skip", reason, manifest.digest))
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


def _upload_blobs(client: RegistryClient, target: Target, artifact: Artifact) -> None:
    """Upload the blobs helm is about to push, with our own retried requests.

    helm cannot repeat a blob upload that failed half-way; finding them all
    present, it only sends the manifest (see :mod:`chartship.channels.oci.config_blob`).
    """
    repository = target.repository(artifact.chart)
    data = artifact.archive.read_bytes()
    client.put_blob(repository, data)
    try:
        chart = safetar.inspect_chart_archive(data, source=str(artifact.archive)).chart
    except ChartshipError:
        chart = {}
    config = helm_config.config_bytes(chart)
    if config is not None:
        client.put_blob(repository, config)
    if artifact.provenance is not None:
        client.put_blob(repository, artifact.provenance.read_bytes())


#: Said of a push that neither failed for certain nor could be read back: a
#: lost answer may hide a manifest that landed.
UNKNOWN = "state unknown until the next run reads the tag"


def _landed(client: RegistryClient, target: Target, artifact: Artifact) -> Manifest | None:
    """The tag's manifest if it already holds exactly this archive."""
    try:
        return verify_published(client, target, artifact)
    except ChartshipError:
        return None


def push_one(
    helm: Helm,
    client: RegistryClient,
    target: Target,
    tls: Tls,
    item: PlanItem,
    circuit: Circuit | None = None,
) -> Outcome:
    """Push one archive with helm and read it back.

    A push that failed for the moment (see :func:`transient`) runs again within
    the registry's retry budget: the same bytes with the same mtime make the
    same manifest, so repeating it is harmless. A push that landed with only its
    answer lost is recognised by reading the tag back.
    """
    circuit = circuit or Circuit()
    if circuit.reason is not None:
        return Outcome(item, "failed", f"not attempted: {circuit.reason}")
    try:
        _upload_blobs(client, target, item.artifact)
    except Unavailable as exc:
        circuit.open(f"the registry kept failing the uploads of {item.reference}")
        return Outcome(item, "failed", f"upload failed: {exc}")
    except RegistryError as exc:
        return Outcome(item, "failed", f"upload failed: {exc}")
    budget = Budget(client.retry_seconds)
    argv = ["push", str(item.artifact.archive), target.url, *_tls_flags(tls, login=False)]
    while True:
        try:
            helm.run(argv)
            break
        except ToolError as exc:
            detail = _last_line(exc.output) if exc.output.strip() else exc.message
            if not transient(exc.output):
                return Outcome(item, "failed", f"helm push failed: {detail}")
            if _landed(client, target, item.artifact) is not None:
                break
            if not budget.pause():
                reason = (
                    f"the registry failed {budget.attempts} push attempt(s) of "
                    f"{item.reference} within {client.retry_seconds:g}s"
                )
                circuit.open(reason)
                return Outcome(item, "failed", f"helm push failed: {detail} ({reason}; {UNKNOWN})")
            log.info(
                "%s: helm push failed for the moment (%s); trying again", item.reference, detail
            )
    try:
        manifest = verify_published(client, target, item.artifact)
    except ChartshipError as exc:
        # helm reported success: the tag may well hold the archive; only a
        # rerun, which reads it first, can tell.
        return Outcome(item, "failed", f"pushed, but the read-back failed ({UNKNOWN}): {exc}")
    status: Status = "replaced" if item.action == "replace" else "pushed"
    message = "pushed and verified"
    if budget.attempts:
        message = f"pushed and verified (after {budget.attempts} failed attempt(s))"
    if status == "replaced":
        message = f"REPLACED {item.remote_digest} (forced) and verified"
        log.warning("%s: forced over the existing manifest %s", item.reference, item.remote_digest)
    return Outcome(item, status, message, manifest.digest)


def _metadata_manifest(layer: bytes) -> bytes:
    empty = b""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": ARTIFACTHUB_CONFIG, "digest": sha256_digest(empty), "size": 0},
        "layers": [
            {
                "mediaType": ARTIFACTHUB_LAYER,
                "digest": sha256_digest(layer),
                "size": len(layer),
                "annotations": {"org.opencontainers.image.title": ARTIFACTHUB_FILE},
            }
        ],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def push_artifacthub_metadata(
    client: RegistryClient, target: Target, chart: str, source: Path, *, dry_run: bool
) -> MetadataOutcome:
    """Artifact Hub reads repository metadata from the ``artifacthub.io`` tag."""
    repository = target.repository(chart)
    reference = target.reference(chart, ARTIFACTHUB_TAG)
    layer = source.read_bytes()
    existing = client.manifest(repository, ARTIFACTHUB_TAG)
    if existing is not None and [
        lay.get("digest") for lay in existing.layers(ARTIFACTHUB_LAYER)
    ] == [sha256_digest(layer)]:
        return MetadataOutcome(chart, reference, "skipped", "Artifact Hub metadata up to date")
    if dry_run:
        return MetadataOutcome(chart, reference, "planned", f"would push {source.name}")
    try:
        client.put_blob(repository, b"")
        client.put_blob(repository, layer)
        client.put_manifest(repository, ARTIFACTHUB_TAG, _metadata_manifest(layer), OCI_MANIFEST)
        back = client.manifest(repository, ARTIFACTHUB_TAG)
        if back is None or [lay.get("digest") for lay in back.layers(ARTIFACTHUB_LAYER)] != [
            sha256_digest(layer)
        ]:
            raise RegistryError(f"read-back: {reference} does not hold {source.name}")
    except ChartshipError as exc:
        return MetadataOutcome(chart, reference, "failed", str(exc))
    return MetadataOutcome(chart, reference, "pushed", f"pushed {source.name}")


def _metadata_sources(settings: Settings, charts: Sequence[str]) -> dict[str, Path]:
    try:
        wheres = {w.name: w for w in chartfiles.discover(settings)}
    except ChartshipError:
        return {}
    found = {}
    for chart in charts:
        where = wheres.get(chart)
        if where is not None and (where.directory / ARTIFACTHUB_FILE).is_file():
            found[chart] = where.directory / ARTIFACTHUB_FILE
    return found


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
    registry = connect(settings, environ, client_factory)
    target, client = registry.target, registry.client
    if artifacts is None:
        artifacts = artifact_mod.from_dist(settings, names)
    items = plan(client, target, artifacts, force=force)
    sources = _metadata_sources(settings, sorted({a.chart for a in artifacts}))
    report = PushReport(target, [], [], dry_run)
    if dry_run:
        for item in items:
            status: Status = {
                "push": "planned",
                "replace": "planned",
                "skip": "skipped",
                "refuse": "refused",
            }[item.action]  # type: ignore[assignment]
            report.outcomes.append(Outcome(item, status, item.reason, item.remote_digest))
        for chart, source in sources.items():
            report.metadata.append(
                push_artifacthub_metadata(client, target, chart, source, dry_run=True)
            )
        return report
    runner = runner or Runner()
    helm = helm or Helm(settings.helm_binary, runner=runner)
    work = [i for i in items if i.action in ("push", "replace")]
    for item in items:
        if item.action == "skip":
            report.outcomes.append(Outcome(item, "skipped", item.reason, item.remote_digest))
        elif item.action == "refuse":
            report.outcomes.append(Outcome(item, "refused", item.reason, item.remote_digest))
    if work:
        circuit = Circuit()
        with (
            logged_in(
                helm,
                target.host,
                registry.credentials,
                registry.tls,
                retry_seconds=registry.oci.retry_seconds,
            ) as authed,
            ThreadPoolExecutor(max_workers=registry.oci.workers) as pool,
        ):
            report.outcomes.extend(
                pool.map(lambda i: push_one(authed, client, target, registry.tls, i, circuit), work)
            )
    for chart, source in sources.items():
        report.metadata.append(
            push_artifacthub_metadata(client, target, chart, source, dry_run=False)
        )
    order = {id(item): n for n, item in enumerate(items)}
    report.outcomes.sort(key=lambda o: order[id(o.item)])
    return report


def require_complete(report: PushReport) -> None:
    if not report.ok:
        failed = report.count("failed") + sum(m.status == "failed" for m in report.metadata)
        refused = report.count("refused")
        raise PublishIncomplete(
            f"OCI push incomplete: {failed} failed, {refused} refused",
            failed=failed,
            refused=refused,
        )

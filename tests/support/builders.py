"""Builders of what tests start from, for the tests, conftest and the benchmarks alike.

- charts: :func:`chart_files` and :func:`chart_archive` (a small complete
  chart), :func:`synthetic_index` (a large index.yaml in helm's own layout) and
  :func:`rich_index` (the same with real charts' maintainers, dependencies
  and annotations);
- channels: :func:`channels` (the ``channels`` mapping of chartship.yaml) and
  :func:`write_channels` (that block added to a chartship.yaml);
- the classic channel's history: :func:`release_history` (every version
  released on the GitHub stand-in, and the index.yaml listing them);
- workspaces: :class:`Workspace` (a git repository holding a copy of this
  repository's charts, made by the ``workspace`` fixture), :func:`git`,
  :func:`installed_helm` and :func:`chartship_cli`;
- sibling charts: :func:`make_sibling_repo` (a fresh repository of three
  charts, one depending on another through ``file://``).

Nothing here imports pytest at module level: ``nox -s bench`` and ``nox -s
demo`` run without the test dependencies.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chartship.artifacts import Artifact
from chartship.channels.classic.entry import entry_for
from chartship.channels.classic.merge import merge
from chartship.config import Settings, load_settings
from chartship.helm import Helm
from chartship.toolchain import helm_path

if TYPE_CHECKING:
    from chartship.sandbox.github_standin import GithubStandin

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
#: The release tag template of this repository's chartship.yaml (MetalLB's).
RELEASE_TAG = "{name}-chart-{version}"
#: Where the entries of :func:`synthetic_index` say their archives are.
URL = "https://charts.example.invalid/releases"
VERSIONS_PER_CHART = 50
#: Seconds a ``python -m chartship`` run of :func:`chartship_cli` may take.
CLI_TIMEOUT = 300


# --------------------------------------------------------------------------- charts

_ENTRY = """\
  - annotations:
      artifacthub.io/changes: |
        - kind: changed
          description: Release {version} of {name}
      artifacthub.io/license: Apache-2.0
    apiVersion: v2
    appVersion: v{version}
    created: "2024-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:05{fraction}Z"
    dependencies:
    - condition: crds.enabled
      name: crds
      repository: ""
      version: {version}
    description: A network load-balancer implementation for Kubernetes using standard
      routing protocols
    digest: {digest}
    home: https://metallb.universe.tf
    icon: https://metallb.universe.tf/images/logo/metallb-blue.png
    keywords:
    - load-balancer
    - bgp
    kubeVersion: '>= 1.19.0-0'
    maintainers:
    - name: {name} maintainers
      url: https://github.com/example/{name}/blob/main/MAINTAINERS.md
    name: {name}
    sources:
    - https://github.com/example/{name}
    type: application
    urls:
    - {url}/{name}-{version}.tgz
    version: {version}
"""


def chart_name(number: int) -> str:
    return f"chart-{number:04d}"


def synthetic_index(entries: int, template: str = _ENTRY) -> str:
    """An index.yaml of ``entries`` versions, laid out exactly as helm writes one.

    Digests and times are derived from the chart and version: the same size
    always gives the same bytes.
    """
    charts = max(1, entries // VERSIONS_PER_CHART)
    parts = ["apiVersion: v1\nentries:\n"]
    for number in range(charts):
        name = chart_name(number)
        parts.append(f"  {name}:\n")
        count = entries // charts + (1 if number < entries % charts else 0)
        for ordinal in range(count, 0, -1):
            version = f"{ordinal // 100}.{ordinal // 10 % 10}.{ordinal % 10}"
            seed = hashlib.sha256(f"{name} {version}".encode()).digest()
            parts.append(
                template.format(
                    name=name,
                    version=version,
                    url=URL,
                    digest=hashlib.sha256(seed).hexdigest(),
                    seed=seed[8],
                    month=1 + seed[0] % 12,
                    day=1 + seed[1] % 28,
                    hour=seed[2] % 24,
                    minute=seed[3] % 60,
                    # Go's RFC3339Nano: no trailing zeros, as helm writes it.
                    fraction=f".{int.from_bytes(seed[4:8], 'big') % 10**9:09d}".rstrip(".0"),
                )
            )
    parts.append('generated: "2024-06-01T00:00:00.123456789Z"\n')
    return "".join(parts)


#: What real charts' entries hold beyond :data:`_ENTRY`: several maintainers and
#: dependencies, and annotations holding block scalars.
_RICHER = {
    "          description: Release {version} of {name}\n": """\
          description: 'Support for {name}: release {version}'
          links:
            - name: GitHub Issue
              url: https://github.com/example/{name}/issues/{seed}
        - kind: fixed
          description: A crash when the speaker restarts (#{seed})
      artifacthub.io/containsSecurityUpdates: "false"
      artifacthub.io/images: |
        - name: controller
          image: quay.io/example/controller:v{version}
        - name: speaker
          image: quay.io/example/speaker:v{version}
""",
    "      artifacthub.io/license: Apache-2.0\n": """\
      artifacthub.io/license: Apache-2.0
      artifacthub.io/links: |
        - name: Documentation
          url: https://example.invalid/{name}
""",
    "      version: {version}\n    description:": """\
      version: {version}
    - condition: frrk8s.enabled
      name: frr-k8s
      repository: https://metallb.github.io/frr-k8s
      tags:
      - routing
      version: 0.0.{seed}
    - alias: metrics
      name: kube-state-metrics
      repository: oci://registry.example.invalid/charts
      version: 5.{seed}.0
    description:""",
    " using standard\n      routing protocols\n": """\
: standard routing
      protocols, layer 2 and BGP'
""",
    "    description: A network": "    description: 'A network",
    "    - bgp\n": "    - bgp\n    - layer2\n    - networking\n",
    "    - name: {name} maintainers\n": """\
    - email: one@example.invalid
      name: {name} maintainers
""",
    "/MAINTAINERS.md\n": """\
/MAINTAINERS.md
    - email: two@example.invalid
      name: Second Maintainer
    - name: Third Maintainer
      url: https://example.invalid/third
""",
    "    - https://github.com/example/{name}\n": """\
    - https://github.com/example/{name}
    - https://github.com/example/{name}-images
""",
}
_RICH_ENTRY = _ENTRY
for _plain, _rich in _RICHER.items():
    _RICH_ENTRY = _RICH_ENTRY.replace(_plain, _rich)


def rich_index(entries: int) -> str:
    """:func:`synthetic_index` with the entries real charts have: several maintainers and
    dependencies each, and annotations holding block scalars (artifacthub.io/changes)."""
    return synthetic_index(entries, _RICH_ENTRY)


def chart_files(name: str, version: str) -> dict[str, str]:
    """The files of a small but complete chart, by path inside the chart directory."""
    return {
        "Chart.yaml": (
            f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: v{version}\n"
            "description: A network load-balancer implementation for Kubernetes\n"
            "type: application\nkubeVersion: '>= 1.19.0-0'\n"
            "home: https://metallb.universe.tf\nkeywords: [load-balancer, bgp]\n"
            f"maintainers:\n- name: {name} maintainers\n"
            "annotations:\n  artifacthub.io/license: Apache-2.0\n"
        ),
        "values.yaml": "replicas: 1\n",
        "templates/configmap.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        ),
    }


def chart_archive(directory: Path, name: str, version: str) -> Path:
    """A small but complete chart archive, as helm would read it."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / f"{name}-{version}.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for relative, text in chart_files(name, version).items():
            data = text.encode()
            member = tarfile.TarInfo(f"{name}/{relative}")
            member.size = len(data)
            member.mtime = 1_700_000_000
            member.mode = 0o644
            tar.addfile(member, io.BytesIO(data))
    return archive


# --------------------------------------------------------------------------- channels

Channel = Mapping[str, Any]


def channels(
    *,
    phase: str | None = None,
    oci: Channel | None = None,
    github: Channel | None = None,
    pages: Channel | None = None,
) -> dict[str, Any]:
    """The ``channels`` mapping of chartship.yaml: ``phase`` and the channels given,
    in the order chartship's README lists them; None leaves a key out."""
    block: dict[str, Any] = {}
    if phase is not None:
        block["phase"] = phase
    for name, keys in (("github", github), ("pages", pages), ("oci", oci)):
        if keys is not None:
            block[name] = dict(keys)
    return block


def write_channels(
    path: Path,
    *,
    phase: str | None = None,
    oci: Channel | None = None,
    github: Channel | None = None,
    pages: Channel | None = None,
) -> Path:
    """Add a ``channels:`` block to the chartship.yaml at ``path`` (made if missing).

    Every line already there stays as it is; a file that has a ``channels`` key
    already is refused rather than given a second one."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    existing = yaml.safe_load(text) if text.strip() else None
    if isinstance(existing, dict) and "channels" in existing:
        raise ValueError(f"{path} has a channels block already")
    block = channels(phase=phase, oci=oci, github=github, pages=pages)
    if text and not text.endswith("\n"):
        text += "\n"
    dumped = yaml.safe_dump({"channels": block}, sort_keys=False)
    path.write_text(text + ("\n" if text else "") + dumped, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- release history


def release_history(
    github: GithubStandin,
    versions: Sequence[str],
    scratch: Path,
    *,
    repository: str,
    chart: str = "metallb",
) -> tuple[str, dict[str, str]]:
    """Release each version on the stand-in with its archive as the asset.

    The index.yaml text listing them all (URLs at the assets, ``created`` times
    spread over a year), and each version's sha256."""
    entries = []
    digests: dict[str, str] = {}
    for number, version in enumerate(versions):
        archive = chart_archive(scratch, chart, version)
        data = archive.read_bytes()
        tag = RELEASE_TAG.format(name=chart, version=version)
        release = github.create_release(repository, tag, make_latest="false")
        github.add_asset(release, archive.name, data)
        url = f"{github.api_url}/download/{repository}/{tag}/{archive.name}"
        digests[version] = hashlib.sha256(data).hexdigest()
        artifact = Artifact.read(archive, chart, version)
        created = f"2021-{1 + number % 12:02d}-{1 + number % 28:02d}T10:11:12.5Z"
        entries.append(entry_for(artifact, url, created))
    text, _ = merge(None, entries, now="2024-01-01T00:00:00Z")
    return text, digests


# --------------------------------------------------------------------------- workspaces


def installed_helm(version: str) -> Path:
    """The pinned helm ``version`` under .tools; the test fails if it is missing."""
    path = helm_path(TOOLS, version)
    if not path.is_file():
        # Imported here: the benchmarks and the sandbox run without pytest.
        import pytest

        pytest.fail(
            f"helm {version} is not installed at {path}; run `python tests/support/provision.py` "
            "(the `nox -s tests` session does it before pytest)",
            pytrace=False,
        )
    return path


def git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout


@dataclass
class Workspace:
    """A throwaway git repository holding a copy of this repo's charts."""

    root: Path
    helm_bin: Path
    upstream: str

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(
            self.root / "chartship.yaml", {"helm": str(self.helm_bin), **overrides}
        )

    def chart_dir(self, name: str = "metallb") -> Path:
        return self.root / "charts" / name

    def path(self, relative: str) -> Path:
        return self.root / relative

    def write(self, relative: str, text: str) -> Path:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def replace(self, relative: str, old: str, new: str) -> Path:
        target = self.root / relative
        text = target.read_text()
        assert old in text, f"{old!r} not in {relative}"
        target.write_text(text.replace(old, new, 1))
        return target

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, message: str = "change") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)


def chartship_cli(
    ws: Workspace, *args: str, env: dict[str, str] | None = None, helm: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -m chartship <args> [--helm <helm_bin>]`` in the workspace root."""
    argv = [sys.executable, "-m", "chartship", *args]
    if helm:
        argv += ["--helm", str(ws.helm_bin)]
    return subprocess.run(
        argv,
        cwd=ws.root,
        capture_output=True,
        text=True,
        check=False,
        timeout=CLI_TIMEOUT,
        env={**os.environ, **(env or {})},
    )


def combined(result: subprocess.CompletedProcess[str]) -> str:
    """A finished process's stdout then stderr, for assertion messages."""
    return result.stdout + result.stderr


# --------------------------------------------------------------------------- sibling charts

BASE = "charts/base/Chart.yaml"
APP = "charts/app/Chart.yaml"
APP_LOCK = "charts/app/Chart.lock"
OTHER = "charts/other/Chart.yaml"

BASE_CHART = """\
# The library every app of this repository builds on.
apiVersion: v2
name: base
description: Shared configuration
type: application
version: 0.1.0
appVersion: "0.1.0"
"""

APP_CHART = """\
apiVersion: v2
name: app
description: The application
type: application
version: 0.3.0
appVersion: "1.16.0" # the application's own release, not the chart's
dependencies:
  - name: base
    version: "{constraint}" # keep in step with charts/base
    repository: file://../base
"""

OTHER_CHART = """\
apiVersion: v2
name: other
description: Unrelated to the others
type: application
version: 1.4.0
appVersion: "1.4.0"
"""

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-%s
data:
  greeting: {{ .Values.greeting | quote }}
"""


@dataclass
class SiblingRepo:
    """The three-chart repository of :func:`make_sibling_repo`."""

    root: Path
    helm_bin: Path

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(
            self.root / "chartship.yaml", {"helm": str(self.helm_bin), **overrides}
        )

    def path(self, relative: str) -> Path:
        return self.root / relative

    def read(self, relative: str) -> str:
        return self.path(relative).read_text()

    def write(self, relative: str, text: str) -> None:
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def replace(self, relative: str, old: str, new: str) -> None:
        text = self.read(relative)
        assert old in text, f"{old!r} not in {relative}"
        self.write(relative, text.replace(old, new, 1))

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, message: str = "change") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def helm(self) -> Helm:
        return Helm(str(self.helm_bin))

    def locked(self, name: str = "base") -> str:
        lock = yaml.safe_load(self.read(APP_LOCK))
        return str(next(d["version"] for d in lock["dependencies"] if d["name"] == name))

    def snapshot(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(self.root).parts
        }


def make_sibling_repo(
    root: Path, helm_bin: Path, constraint: str = "0.1.0", config: str = ""
) -> SiblingRepo:
    """``app`` depends on ``base`` through ``file://../base`` with ``constraint``;
    ``other`` stands alone; app's appVersion (1.16.0) is the application's own."""
    repo = SiblingRepo(root, helm_bin)
    repo.write("chartship.yaml", config)
    repo.write(".gitignore", "/dist/\n/charts/*/charts/*.tgz\n")
    for name, chart in (("base", BASE_CHART), ("app", APP_CHART), ("other", OTHER_CHART)):
        repo.write(f"charts/{name}/Chart.yaml", chart.replace("{constraint}", constraint))
        repo.write(f"charts/{name}/values.yaml", f"greeting: hello from {name}\n")
        repo.write(f"charts/{name}/templates/configmap.yaml", CONFIGMAP % name)
    helm = Helm(str(helm_bin))
    helm.dependency_update(repo.path("charts/app"))
    git(root, "init", "-q", "-b", "main")
    repo.commit("initial")
    return repo

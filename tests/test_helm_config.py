"""chartship computes the config blob helm pushes, byte for byte, on helm 3 and helm 4.

When the bytes are right, helm finds every blob already uploaded (by chartship's
retried requests) and only sends the manifest; these tests push with the real
helm and compare.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from chartship.channels.oci import config_blob as helm_config
from chartship.channels.oci.registry import RegistryClient, Tls
from chartship.helm import Helm
from chartship.sandbox.registry import RegistryServer
from tests.support.builders import Workspace

RICH = """\
apiVersion: v2
name: rich
version: 1.2.3-rc.1+build.5
appVersion: "v1.2.3 <beta> & more"
description: "Ünïcode and quotes \\" in one line"
type: library
home: https://example.invalid/rich
icon: https://example.invalid/rich.png
sources: [https://example.invalid/src, https://example.invalid/mirror]
keywords: [a, b]
kubeVersion: ">= 1.19.0-0 < 2.0.0"
deprecated: true
condition: rich.enabled
tags: networking
maintainers:
  - name: Someone
    email: someone@example.invalid
    url: https://example.invalid/someone
  - name: Only A Name
annotations:
  zeta/last: "z"
  artifacthub.io/changes: |
    - kind: added
      description: "<b>bold</b> & co"
  alpha/first: "a"
dependencies:
  - name: sub
    version: ">=0.1.0"
    repository: ""
    alias: other
    condition: sub.enabled
    tags: [front, back]
    enabled: true
    import-values: [data]
  - name: bare
    repository: file://../bare
"""


def archive(directory: Path, chart_yaml: str) -> Path:
    chart = yaml.safe_load(chart_yaml)
    name, version = chart["name"], chart["version"]
    members = {"Chart.yaml": chart_yaml, "values.yaml": "{}\n"}
    for dep in chart.get("dependencies") or []:
        sub = f"apiVersion: v2\nname: {dep['name']}\nversion: 0.1.0\n"
        members[f"charts/{dep['name']}/Chart.yaml"] = sub
    path = directory / f"{name}-{version}.tgz"
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{member}")
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


def pushed_config(helm: Helm, registry: RegistryServer, path: Path, name: str) -> bytes:
    helm.run(["push", str(path), registry.oci_base("cfg"), "--plain-http"])
    client = RegistryClient(registry.host, tls=Tls(plain_http=True))
    (tag,) = client.tags(f"cfg/{name}")
    manifest = client.manifest(f"cfg/{name}", tag)
    assert manifest is not None
    return client.blob(f"cfg/{name}", manifest.data["config"]["digest"])


def test_rich_chart_config_is_what_helm_pushes(
    helm: Helm, registry: RegistryServer, tmp_path: Path
) -> None:
    path = archive(tmp_path, RICH)
    expected = helm_config.config_bytes(yaml.safe_load(RICH))
    assert expected is not None
    assert b"\\u003cbeta\\u003e \\u0026 more" in expected
    assert pushed_config(helm, registry, path, "rich") == expected


def test_this_repositorys_chart_config_is_what_helm_pushes(
    helm: Helm, registry: RegistryServer, workspace: Workspace, tmp_path: Path
) -> None:
    chart_dir = workspace.chart_dir("metallb-dashboards")
    helm.run(["package", str(chart_dir), "--destination", str(tmp_path)])
    (path,) = tmp_path.glob("*.tgz")
    expected = helm_config.config_bytes(yaml.safe_load((chart_dir / "Chart.yaml").read_text()))
    assert pushed_config(helm, registry, path, "metallb-dashboards") == expected


@pytest.mark.parametrize(
    ("chart", "why"),
    [
        ({"name": "old", "version": "1.0.0"}, "no apiVersion: helm's loader makes it v1"),
        ({"apiVersion": "v2", "name": "n", "version": "1", "appVersion": 1.2}, "a number"),
        ({"apiVersion": "v2", "name": "n", "version": "1", "keywords": "a"}, "not a list"),
        ({"apiVersion": "v2", "name": "n", "version": "1", "deprecated": "yes"}, "not a bool"),
        ({"apiVersion": "v2", "name": "n", "version": "1", "description": "a\nb"}, "sanitized"),
    ],
)
def test_values_helm_would_convert_are_left_to_helm(chart: dict[str, object], why: str) -> None:
    assert helm_config.config_bytes(chart) is None, why

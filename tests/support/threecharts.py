"""A fresh three-chart repository: ``app`` depends on ``base`` through
``file://../base`` (a pinned constraint unless told otherwise), ``other``
stands alone. app's appVersion is the application's own (1.16.0)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chartship.config import Settings, load_settings
from chartship.helm import Helm
from tests.support.builders import git

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
class Repo:
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


def make_repo(root: Path, helm_bin: Path, constraint: str = "0.1.0", config: str = "") -> Repo:
    repo = Repo(root, helm_bin)
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

"""Repositories lint is checked on: the shapes of a large real chart repository.

:func:`real_world_repo` holds what prometheus-community/helm-charts showed
(and chart-testing passes there): an apiVersion v1 chart whose dependency is
declared in requirements.yaml (a ``file://`` chart outside charts/), a kubeVersion with a
leading zero, a change after a release only in files .helmignore excludes, a
``null`` override in a ci values file, a ct.yaml with an excluded chart and a
target branch, and one template that fails only with default values (the
finding chart-testing misses). :func:`generated_repo` is the benchmark's: many
charts with several ci values files each.

Nothing here imports pytest: ``nox -s bench`` uses it too.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.builders import CONFIGMAP, git

CT_YAML = """\
remote: origin
target-branch: main
chart-dirs:
  - charts
excluded-charts:
  - broken
use-helmignore: true
validate-maintainers: false
check-version-increment: true
"""


def _chart(
    name: str,
    version: str,
    *,
    api_version: str = "v2",
    extra: str = "",
) -> dict[str, str]:
    return {
        "Chart.yaml": (
            f"apiVersion: {api_version}\nname: {name}\nversion: {version}\n"
            f"appVersion: v{version}\ndescription: {name}\n"
            "icon: https://example.invalid/icon.png\n"
            f"maintainers:\n- name: {name} maintainers\n{extra}"
        ),
        "values.yaml": "greeting: hello\n",
        "templates/configmap.yaml": CONFIGMAP % name,
    }


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def _charts() -> dict[str, dict[str, str]]:
    legacy = {
        **_chart("legacy", "2.0.0", api_version="v1", extra="kubeVersion: '>=1.05.0'\n"),
        # helm 2's place for dependencies, which helm 3 and 4 still read for a v1 chart.
        "requirements.yaml": (
            "dependencies:\n- name: common\n  version: '>=0.1.0'\n"
            "  repository: file://../../libs/common\n"
        ),
    }
    alertmanager = {
        **_chart("alertmanager", "1.21.0"),
        ".helmignore": "# not packaged\nunittests/\nci/\n*.orig\n",
        "unittests/configmap_test.yaml": "suite: configmap\n",
        "ci/config-values.yaml": "greeting: hi\n",
    }
    nullable = {
        **_chart("nullable", "0.3.0"),
        "values.yaml": "greeting: hello\nresources:\n  limits:\n    cpu: 100m\n",
        "values.schema.json": (
            '{"type": "object", "properties": {"greeting": {"type": "string"}, '
            '"resources": {"type": "object"}}}\n'
        ),
        # helm deletes a key an override sets to null: the schema never sees None.
        "ci/no-resources-values.yaml": "resources: null\n",
    }
    defaults = {
        **_chart("defaults", "0.1.0"),
        "values.yaml": "greeting: hello\nconfig: null\n",
        # Fails only with default values (config is null), after helm logs a missing
        # required value: neither helm's log line nor its verdict may join the message.
        "templates/config.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
            '  name: {{ required "name is required" .Values.name }}\n'
            "data:\n  level: {{ .Values.config.level | quote }}\n"
        ),
        "ci/config-values.yaml": "name: defaults\nconfig:\n  level: debug\n",
    }
    changed = _chart("changed", "1.0.0")
    broken = {**_chart("broken", "0.1.0"), "templates/bad.yaml": "{{ .Values.nope.nope }}\n"}
    return {
        "legacy": legacy,
        "alertmanager": alertmanager,
        "nullable": nullable,
        "defaults": defaults,
        "changed": changed,
        "broken": broken,
    }


def real_world_repo(root: Path) -> Path:
    """The repository, on branch ``pr`` one commit ahead of ``main``.

    ``main`` holds every chart and the release tags ``alertmanager-1.21.0`` and
    ``changed-1.0.0``; ``pr`` changes alertmanager only in .helmignore'd files
    (unittests/, ci/) and changes ``changed``'s template without a new version.
    """
    root.mkdir(parents=True, exist_ok=True)
    _write(root, {"chartship.yaml": "release:\n  tag: '{name}-{version}'\n", "ct.yaml": CT_YAML})
    for name, files in _charts().items():
        _write(root / "charts" / name, files)
    _write(root / "libs" / "common", _chart("common", "0.1.0", api_version="v1"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "charts")
    git(root, "tag", "alertmanager-1.21.0")
    git(root, "tag", "changed-1.0.0")
    git(root, "checkout", "-q", "-b", "pr")
    _write(
        root / "charts" / "alertmanager",
        {
            "unittests/configmap_test.yaml": "suite: configmap, again\n",
            "ci/config-values.yaml": "greeting: hey\n",
        },
    )
    _write(root / "charts" / "changed", {"templates/configmap.yaml": CONFIGMAP % "changed2"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pr")
    return root


def generated_repo(root: Path, charts: int, values_files: int) -> Path:
    """``charts`` charts with ``values_files`` ci values files each, in a git repository."""
    root.mkdir(parents=True, exist_ok=True)
    _write(root, {"chartship.yaml": "lint:\n  version_increment: false\n"})
    for number in range(charts):
        name = f"chart{number:03d}"
        files = _chart(name, "1.0.0")
        files.update(
            {f"ci/v{n:02d}-values.yaml": f"greeting: hello {n}\n" for n in range(values_files)}
        )
        _write(root / "charts" / name, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "charts")
    return root

"""Dependencies without the network, through mirrors, and never written by lint or package.

Everything helm-facing runs on helm 3 and helm 4. What chartship computes
itself (Chart.lock's digest and text, version constraints) is checked against
what those same helm binaries write and decide.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from chartship import dependencies, versions
from chartship.bump import bump
from chartship.charts import ChartDir, discover, load
from chartship.commands import run_lint, run_package, run_release
from chartship.config import Settings, load_settings
from chartship.errors import ChecksFailed, ConfigError, DependencyError
from chartship.helm import Helm
from chartship.lint import lint
from chartship.package import package
from chartship.safetar import inspect_chart_archive
from chartship.sandbox.registry import RegistryServer
from tests.conftest import SANDBOX_UPSTREAM
from tests.support.builders import REPO, git
from tests.support.chartrepo import StaticServer, Tripwire, publish_repository, serve_upstream
from tests.support.recording import RecordingRunner
from tests.support.sandbox import open_sandbox

#: Where the MetalLB-shaped repository takes frr-k8s from: a host that never resolves.
UNREACHABLE = "https://frr-k8s.invalid/"
UPSTREAM_CHART = REPO / "tests" / "data" / "upstream" / "frr-k8s"
VENDORED = "charts/metallb/charts/frr-k8s-0.0.16.tgz"
TIMEOUT = 300


def generated_of(text: str) -> str:
    match = re.search(r'^generated: "(.+)"$', text, re.M)
    assert match is not None, text
    return match.group(1)


def without_generated(text: str) -> str:
    return re.sub(r"^generated: .*$", "generated: -", text, flags=re.M)


def archive_files(path: Path) -> dict[str, str]:
    return inspect_chart_archive(path.read_bytes(), source=path.name).files


def member_yaml(archive: Path, member: str) -> Any:
    with tarfile.open(archive, "r:gz") as tar:
        handle = tar.extractfile(member)
        assert handle is not None
        return yaml.safe_load(handle.read())


# --------------------------------------------------------------------------- helm's own files


def write_chart(
    directory: Path, name: str, version: str, extra: dict[str, Any] | None = None
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = {"apiVersion": "v2", "name": name, "version": version, **(extra or {})}
    (directory / "Chart.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (directory / "values.yaml").write_text("{}\n")


#: Dependencies in every shape helm's digest covers: aliases, conditions, tags, import-values
#: (strings and mappings), enabled, constraints with characters Go's JSON escapes, a
#: file:// chart, and text helm's loader sanitizes (a tab in a condition).
APP_CHART = """\
apiVersion: v2
name: app
version: 1.0.0
dependencies:
  - name: local-a
    version: ">=1.0.0 <2.0.0"
    alias: first
    condition: "first.enabled\\tplease"
    tags: [front, "back end"]
  - name: local-a
    version: ^1.2.0
    alias: second
    import-values:
      - data
      - child: exports.one
        parent: imported
  - name: local-b
    version: "~0.3"
    enabled: true
  - name: lib
    version: 2.x
    repository: file://../lib
  - name: frr-k8s
    version: "~0.0.16"
    repository: "{upstream}"
    condition: frrk8s.enabled
"""


def app_repository(root: Path, upstream: str) -> Path:
    app = root / "app"
    write_chart(app / "charts" / "local-a", "local-a", "1.2.3")
    write_chart(app / "charts" / "local-b", "local-b", "0.3.9")
    write_chart(root / "lib", "lib", "2.4.0")
    (app / "Chart.yaml").write_text(APP_CHART.format(upstream=upstream))
    (app / "values.yaml").write_text("{}\n")
    return app


def settings_for(root: Path, helm_bin: Path, **overrides: Any) -> Settings:
    config = root / "chartship.yaml"
    if not config.exists():
        config.write_text(f"helm: {helm_bin}\ncharts_dir: .\n")
    return load_settings(config, overrides)


def test_chart_lock_digest_and_text_are_helms(helm: Helm, tmp_path: Path, upstream: str) -> None:
    by_helm = app_repository(tmp_path / "helm", upstream)
    by_us = app_repository(tmp_path / "chartship", upstream)
    with helm.isolated_repositories([upstream]) as scoped:
        scoped.dependency_update(by_helm)
    written = (by_helm / "Chart.lock").read_text()
    lock = yaml.safe_load(written)
    requested = yaml.safe_load((by_helm / "Chart.yaml").read_text())["dependencies"]

    assert dependencies.lock_digest(requested, lock["dependencies"]) == lock["digest"]
    assert (
        dependencies.render_lock(lock["dependencies"], lock["digest"], generated_of(written))
        == written
    )

    # chartship's own refresh writes the same Chart.lock and the same archives.
    settings = settings_for(tmp_path / "chartship", Path(helm.binary))
    chart = load(ChartDir("app", by_us, settings.chart("app")))
    assert dependencies.refresh_lock(chart, settings, helm=helm) is True
    ours = (by_us / "Chart.lock").read_text()
    assert without_generated(ours) == without_generated(written)
    archives = sorted(p.name for p in (by_helm / "charts").glob("*.tgz"))
    assert archives == ["frr-k8s-0.0.16.tgz", "lib-2.4.0.tgz"]
    assert sorted(p.name for p in (by_us / "charts").glob("*.tgz")) == archives
    for name in archives:
        assert archive_files(by_us / "charts" / name) == archive_files(by_helm / "charts" / name)
    # And helm takes it as in sync: a build goes on to fetch instead of refusing the lock.
    with helm.isolated_repositories([upstream]) as scoped:
        output = scoped.dependency_build(by_us).output
    assert "out of sync" not in output


def test_chart_lock_out_of_sync_is_what_helm_refuses(helm: Helm, tmp_path: Path) -> None:
    app = tmp_path / "app"
    write_chart(app / "charts" / "sub", "sub", "1.0.0")
    (app / "Chart.yaml").write_text(
        "apiVersion: v2\nname: app\nversion: 1.0.0\n"
        "dependencies:\n  - name: sub\n    version: 1.0.0\n    condition: sub.on\n"
    )
    helm.run(["dependency", "update", str(app)])
    settings = settings_for(tmp_path, Path(helm.binary))

    def in_sync() -> bool:
        chart = load(ChartDir("app", app, settings.chart("app")))
        lock = dependencies.read_lock(chart)
        assert lock is not None
        return dependencies.lock_in_sync(chart, lock)

    def helm_accepts() -> bool:
        result = helm.run(["dependency", "build", str(app)], check=False)
        return "out of sync" not in result.output

    assert in_sync()
    assert helm_accepts()
    # A condition is not in Chart.lock, yet it is in the digest.
    text = (app / "Chart.yaml").read_text()
    (app / "Chart.yaml").write_text(text.replace("sub.on", "sub.off"))
    assert not in_sync()
    assert not helm_accepts()


#: (version, constraint): helm's verdict is whether `helm dependency update` accepts a
#: local subchart at that version for a dependency with that constraint.
CONSTRAINT_CASES = [
    ("1.2.3", "1.2.3"),
    ("1.2.4", "1.2.3"),
    ("1.2.4", "~1.2.3"),
    ("1.3.0", "~1.2.3"),
    ("1.9.0", "^1.2.3"),
    ("2.0.0", "^1.2.3"),
    ("0.2.5", "^0.2.3"),
    ("0.3.0", "^0.2.3"),
    ("0.0.4", "^0.0.3"),
    ("0.0.3", "^0.0.3"),
    ("1.2.9", "1.2.x"),
    ("1.3.0", "1.2"),
    ("1.2.0", "1.2"),
    ("5.0.0", "*"),
    ("1.0.0-rc.1", "*"),
    ("1.0.0-rc.1", ">=1.0.0-0"),
    ("1.0.0-rc.1", ">=0.9.0, <1.0.0-z"),
    ("1.0.0-rc.1", ">=0.9.0"),
    ("1.5.0", ">=1.0, <2.0"),
    ("2.0.0", ">=1.0 <2.0"),
    ("1.4.5", "1.2 - 1.4.5"),
    ("1.4.6", "1.2 - 1.4.5"),
    ("3.0.0", "<2 || >=3"),
    ("2.5.0", "<2 || >=3"),
    ("1.2.5", "<=1.2"),
    ("1.3.0", "<=1.2"),
    ("11.1.0", ">11"),
    ("12.0.0", ">11"),
    ("11.2.0", ">11.1"),
    ("11.1.5", ">11.1"),
    ("1.0.0", "!=1.0.0"),
    ("1.0.1", "!=1.0.0"),
    ("1.2.5", "!=1.2.x"),
    ("1.3.0", "!=1.2.x"),
    ("1.19.0", ">= 1.19.0-0"),
    ("1.9.9", "1"),
    ("2.0.0", "1"),
    ("1.5.0", "~1"),
    ("1.2.3", "=1.2.3"),
    ("1.2.3-beta", "~1.2.3-alpha"),
    ("1.2.3-beta", "1.2.3-beta"),
    ("0.5.0", "~0"),
]


def test_constraints_are_decided_as_helm_decides(helm: Helm, tmp_path: Path) -> None:
    verdicts = []
    for number, (version, constraint) in enumerate(CONSTRAINT_CASES):
        chart = tmp_path / f"c{number}"
        write_chart(chart / "charts" / "sub", "sub", version)
        write_chart(chart, "c", "1.0.0", {"dependencies": [{"name": "sub", "version": constraint}]})
        result = helm.run(["dependency", "update", str(chart)], check=False)
        verdicts.append((version, constraint, result.returncode == 0))
    ours = [(v, c, versions.satisfies(v, c)) for v, c, _ in verdicts]
    assert ours == verdicts
    assert {ok for _, _, ok in verdicts} == {True, False}


# --------------------------------------------------------------------------- settings


def test_mirror_settings_shorthand_and_full_form(tmp_path: Path) -> None:
    config = tmp_path / "chartship.yaml"
    config.write_text(
        "dependencies:\n"
        "  offline: true\n"
        "  repository_config: helm\n"
        "  mirrors:\n"
        "    https://metallb.github.io/frr-k8s: https://mirror.example/frr-k8s\n"
        "    oci://quay.io/metallb:\n"
        "      url: oci://registry.example/metallb\n"
        "      username_env: MIRROR_USER\n"
        "      password_env: MIRROR_TOKEN\n"
    )
    deps = load_settings(config).dependencies
    assert deps.offline is True
    assert deps.repository_config == "helm"
    short = deps.mirror_for("https://metallb.github.io/frr-k8s/")
    assert short is not None
    assert short.url == "https://mirror.example/frr-k8s"
    full = deps.mirror_for("oci://quay.io/metallb")
    assert full is not None
    assert full.password_env == "MIRROR_TOKEN"
    assert deps.mirror_for("https://elsewhere.example") is None


@pytest.mark.parametrize(
    ("mirrors", "message"),
    [
        (
            "    metallb: https://mirror.example\n",
            "dependencies.mirrors.metallb: must be a repository URL",
        ),
        (
            "    https://a.example: ftp://mirror.example\n",
            "dependencies.mirrors.https://a.example.url: must start with http://",
        ),
        (
            "    https://a.example: https://user:pw@mirror.example\n",
            "must not carry credentials; name environment variables",
        ),
        (
            "    https://a.example: {url: https://m.example, username_env: U}\n",
            "username_env and password_env go together",
        ),
    ],
)
def test_bad_mirror_settings_name_the_key(tmp_path: Path, mirrors: str, message: str) -> None:
    config = tmp_path / "chartship.yaml"
    config.write_text("dependencies:\n  mirrors:\n" + mirrors)
    with pytest.raises(ConfigError) as exc:
        load_settings(config)
    assert message in str(exc.value)
    assert str(config) in str(exc.value)
    assert "pw@" not in str(exc.value)


# --------------------------------------------------------------------------- MetalLB's shape


@dataclass
class Repo:
    """A git repository holding this repository's charts, frr-k8s taken from ``repository``."""

    root: Path
    helm_bin: Path
    repository: str

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(
            self.root / "chartship.yaml", {"helm": str(self.helm_bin), **overrides}
        )

    def path(self, relative: str) -> Path:
        return self.root / relative

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def status(self) -> str:
        return self.git("status", "--porcelain")

    def commit(self) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "change")


def point_dependency(root: Path, repository: str) -> None:
    """charts/metallb takes frr-k8s from ``repository``; Chart.lock follows, in sync."""
    chart_yaml = root / "charts" / "metallb" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace(SANDBOX_UPSTREAM, repository))
    lock_path = root / "charts" / "metallb" / "Chart.lock"
    text = lock_path.read_text()
    lock = yaml.safe_load(text)
    entries = [
        {**e, "repository": repository if e["repository"] else ""} for e in lock["dependencies"]
    ]
    requested = yaml.safe_load(chart_yaml.read_text())["dependencies"]
    digest = dependencies.lock_digest(requested, entries)
    lock_path.write_text(dependencies.render_lock(entries, digest, generated_of(text)))


def make_repo(base: Path, helm_bin: Path, repository: str, *, vendored: bool = True) -> Repo:
    """This repository's charts and chartship.yaml as committed, the MetalLB way."""
    root = base / "repo"
    tracked = git(REPO, "ls-files", "charts", "chartship.yaml").split()
    for relative in tracked:
        if (REPO / relative).is_file():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relative, root / relative)
    vendored_archive = root / VENDORED
    shutil.copy2(REPO / VENDORED, vendored_archive)  # also before it was first committed
    if not vendored:
        vendored_archive.unlink()
    point_dependency(root, repository)
    (root / ".gitignore").write_text("/dist/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return Repo(root, helm_bin, repository)


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tripwire]:
    """Every connection helm tries to a non-loopback host lands here (and fails)."""
    with Tripwire() as wire:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, wire.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1,localhost")
        # urlopen's process-wide opener takes the proxies in force when first built:
        # one built here would send later tests' requests to this dead proxy.
        urllib.request.install_opener(None)
        try:
            yield wire
        finally:
            urllib.request.install_opener(None)


@pytest.fixture
def offline_repo(tmp_path: Path, helm_bin: Path, tripwire: Tripwire) -> Repo:
    return make_repo(tmp_path, helm_bin, UNREACHABLE)


def test_vendored_dependency_lint_passes_offline_and_leaves_the_tree(
    offline_repo: Repo, tripwire: Tripwire
) -> None:
    runner = RecordingRunner()
    report = lint(offline_repo.settings(), runner=runner)
    assert report.problems == []
    assert tripwire.connections == 0
    assert offline_repo.status() == ""
    # helm lint did run, on a chart whose charts/ held the vendored archive.
    assert any(argv[1:3] == ("lint", "--strict") for argv in runner.argvs)
    assert not any("repo" in argv or "dependency" in argv for argv in runner.argvs)


def sed_like_metallb(root: Path, version: str) -> None:
    """MetalLB's release task: sed on the version lines, then the crds dependency entry."""
    parent = root / "charts" / "metallb" / "Chart.yaml"
    crds = root / "charts" / "metallb" / "charts" / "crds" / "Chart.yaml"
    for path in (parent, crds):
        text = path.read_text()
        text = re.sub(r"^version: .*$", f"version: {version}", text, flags=re.M)
        text = re.sub(r"^appVersion: .*$", f"appVersion: v{version}", text, flags=re.M)
        path.write_text(text)
    text = parent.read_text()
    text = re.sub(r"(- name: crds\n\s+version: ).*", rf"\g<1>{version}", text)
    parent.write_text(text)


def test_bump_offline_stamps_what_sed_and_dependency_update_give(
    tmp_path: Path, helm_bin: Path, helm: Helm
) -> None:
    # The reference needs a reachable repository: the same chart served from 127.0.0.1.
    server, url = serve_upstream(helm, tmp_path / "site")
    with server:
        ours = make_repo(tmp_path / "ours", helm_bin, url)
        theirs = make_repo(tmp_path / "theirs", helm_bin, url)
        sed_like_metallb(theirs.root, "0.16.2")
        with helm.isolated_repositories([url]) as scoped:
            scoped.dependency_update(theirs.path("charts/metallb"))
        served_before = len(server.requests)

        results = bump(ours.settings(**{"dependencies.offline": True}), "0.16.2", ["metallb"])

        assert len(server.requests) == served_before  # chartship asked the repository nothing
    assert results[0].lock_refreshed
    for relative in ("charts/metallb/Chart.yaml", "charts/metallb/charts/crds/Chart.yaml"):
        assert yaml.safe_load(ours.path(relative).read_text()) == yaml.safe_load(
            theirs.path(relative).read_text()
        )
    lock = "charts/metallb/Chart.lock"
    assert without_generated(ours.path(lock).read_text()) == without_generated(
        theirs.path(lock).read_text()
    )
    assert archive_files(ours.path(VENDORED)) == archive_files(theirs.path(VENDORED))
    assert sorted(ours.status().splitlines()) == [
        " M charts/metallb/Chart.lock",
        " M charts/metallb/Chart.yaml",
        " M charts/metallb/charts/crds/Chart.yaml",
    ]


def test_vendored_dependency_bump_package_and_release_dry_run_offline(
    offline_repo: Repo, tripwire: Tripwire, tmp_path: Path
) -> None:
    settings = offline_repo.settings()
    (result,) = bump(settings, "0.16.2", ["metallb"])
    assert result.lock_refreshed
    lock = yaml.safe_load(offline_repo.path("charts/metallb/Chart.lock").read_text())
    assert lock["dependencies"] == [
        {"name": "crds", "repository": "", "version": "0.16.2"},
        {"name": "frr-k8s", "repository": UNREACHABLE, "version": "0.0.16"},
    ]
    offline_repo.commit()

    made = {p.chart: p for p in package(settings)}
    archive = made["metallb"].archive
    meta = member_yaml(archive, "metallb/Chart.yaml")
    assert {d["name"]: d.get("repository") for d in meta["dependencies"]}["frr-k8s"] == UNREACHABLE
    assert member_yaml(archive, "metallb/charts/frr-k8s/Chart.yaml")["version"] == "0.0.16"
    assert tripwire.connections == 0
    assert offline_repo.status() == ""  # dist/ is ignored; the charts were only read

    shutil.rmtree(offline_repo.path("dist"))
    with open_sandbox(tmp_path / "sandbox", offline_repo.root, offline_repo.helm_bin) as box:
        # The sandbox copies charts/ without archives; this repository vendors one.
        shutil.copy2(offline_repo.path(VENDORED), box.work / VENDORED)
        (box.work / ".gitignore").write_text("/dist/\n")
        box.commit("vendor frr-k8s")
        out = io.StringIO()
        released = run_release(box.settings(), dry_run=True, out=out, environ=box.environ)
        assert [r.artifact.chart for r in released.rows] == ["metallb", "metallb-dashboards"]
        assert "release: dry run: nothing was changed" in out.getvalue()
        assert git(box.work, "status", "--porcelain") == ""
    assert tripwire.connections == 0


def test_offline_flag_on_every_front_end(offline_repo: Repo, tripwire: Tripwire) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    helm = ["--helm", str(offline_repo.helm_bin)]
    for argv in (
        [sys.executable, "-m", "chartship", "lint", "--offline", *helm],
        [sys.executable, "-m", "chartship", "package", "--offline", "--dev", *helm],
    ):
        done = subprocess.run(
            argv, cwd=offline_repo.root, capture_output=True, text=True, timeout=TIMEOUT, env=env
        )
        assert done.returncode == 0, done.stdout + done.stderr
    (offline_repo.root / "tasks.py").write_text("from chartship.tasks import ns\n")
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "lint", "--offline", "--helm", str(offline_repo.helm_bin)],
        cwd=offline_repo.root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problems" in done.stdout
    assert tripwire.connections == 0


# --------------------------------------------------------------------------- not vendored


@pytest.fixture
def unvendored(tmp_path: Path, helm_bin: Path) -> Repo:
    """The vendored archive removed; nothing else changed."""
    return make_repo(tmp_path, helm_bin, UNREACHABLE, vendored=False)


ADVICE = (
    "run `helm dependency update charts/metallb` where the repository can be reached and commit "
    "charts/metallb/charts/frr-k8s-0.0.16.tgz with Chart.lock, or point dependencies.mirrors at "
    "a copy of the repository"
)
NOT_VENDORED = (
    f"metallb: dependency frr-k8s 0.0.16 from {UNREACHABLE} is not vendored "
    "(charts/metallb/charts has no frr-k8s archive); "
)


def test_missing_vendored_archive_is_one_clear_error_everywhere(unvendored: Repo) -> None:
    settings = unvendored.settings()
    out = io.StringIO()
    with pytest.raises(ChecksFailed) as failed:
        run_lint(settings, out=out)
    assert failed.value.count == 1
    lines = out.getvalue().splitlines()
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 1
    assert errors[0].startswith("charts/metallb/Chart.yaml:")
    assert f"[dependencies] {NOT_VENDORED}{UNREACHABLE} cannot be used: " in errors[0]
    assert errors[0].endswith(ADVICE)
    assert (
        "charts/metallb: warning: [helm-lint] helm lint --strict was not run for metallb: its "
        "dependencies could not be put together (see above)"
    ) in lines
    assert unvendored.status() == ""

    before = {p: p.read_bytes() for p in unvendored.path("charts").rglob("*") if p.is_file()}
    for attempt in (
        lambda: package(settings, dev=True),
        lambda: bump(settings, "0.16.2", ["metallb"]),
    ):
        with pytest.raises(DependencyError) as exc:
            attempt()
        assert exc.value.message.startswith(NOT_VENDORED)
        assert exc.value.message.endswith(ADVICE)
        assert exc.value.exit_code == 4
        assert unvendored.status() == ""
    after = {p: p.read_bytes() for p in unvendored.path("charts").rglob("*") if p.is_file()}
    assert after == before
    assert not unvendored.path("dist").exists() or not list(unvendored.path("dist").glob("*.tgz"))


def test_missing_vendored_archive_offline_contacts_nothing(
    unvendored: Repo, tripwire: Tripwire
) -> None:
    settings = unvendored.settings(**{"dependencies.offline": True})
    report = lint(settings)
    (error,) = [p for p in report.problems if p.severity == "error"]
    assert error.message == (
        f"{NOT_VENDORED}--offline (dependencies.offline) forbids fetching it; {ADVICE}"
    )
    with pytest.raises(DependencyError, match="forbids fetching it"):
        package(settings, dev=True)
    assert tripwire.connections == 0
    assert unvendored.status() == ""


def older_frr_k8s(helm: Helm, tmp_path: Path) -> Path:
    """A valid frr-k8s 0.0.15 archive: what charts/ held before Chart.lock moved on."""
    source = tmp_path / "older" / "frr-k8s"
    shutil.copytree(UPSTREAM_CHART, source)
    chart_yaml = source / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.0.16", "version: 0.0.15"))
    helm.run(["package", str(source), "--destination", str(tmp_path / "older")])
    return tmp_path / "older" / "frr-k8s-0.0.15.tgz"


def test_stale_vendored_archive_is_named_and_fetched_where_reachable(
    tmp_path: Path, helm_bin: Path, helm: Helm
) -> None:
    server, url = serve_upstream(helm, tmp_path / "site")
    with server:
        repo = make_repo(tmp_path, helm_bin, url)
        repo.path(VENDORED).unlink()
        shutil.copy2(older_frr_k8s(helm, tmp_path), repo.path("charts/metallb/charts"))
        repo.commit()
        report = lint(repo.settings())
        assert "/frr-k8s/frr-k8s-0.0.16.tgz" in server.requests
    assert [(p.path.name, p.severity, p.message) for p in report.problems] == [
        (
            "frr-k8s-0.0.15.tgz",
            "warning",
            "is stale: Chart.lock pins frr-k8s 0.0.16; run `helm dependency update "
            "charts/metallb` and commit the result",
        )
    ]
    assert repo.status() == ""


def test_stale_vendored_archive_with_the_repository_unreachable(
    unvendored: Repo, helm: Helm, tmp_path: Path
) -> None:
    shutil.copy2(older_frr_k8s(helm, tmp_path), unvendored.path("charts/metallb/charts"))
    unvendored.commit()
    with pytest.raises(DependencyError) as exc:
        package(unvendored.settings(), dev=True)
    assert exc.value.message.startswith(
        f"metallb: dependency frr-k8s 0.0.16 from {UNREACHABLE} is not vendored "
        "(charts/metallb/charts holds frr-k8s-0.0.15.tgz, not frr-k8s-0.0.16); "
    )


def test_an_outdated_archive_beside_the_vendored_one_never_reaches_helm(
    offline_repo: Repo, helm: Helm, tmp_path: Path, tripwire: Tripwire
) -> None:
    older = shutil.copy2(older_frr_k8s(helm, tmp_path), offline_repo.path("charts/metallb/charts"))
    offline_repo.commit()
    report = lint(offline_repo.settings(), ["metallb"])
    assert [(p.path.name, p.severity) for p in report.problems] == [
        ("frr-k8s-0.0.15.tgz", "warning")
    ]
    made = {p.chart: p for p in package(offline_repo.settings(), ["metallb"], dev=True)}
    with tarfile.open(made["metallb"].archive, "r:gz") as tar:
        subcharts = {n.split("/")[2] for n in tar.getnames() if n.startswith("metallb/charts/")}
    assert subcharts == {"crds", "frr-k8s"}
    assert (
        member_yaml(made["metallb"].archive, "metallb/charts/frr-k8s/Chart.yaml")["version"]
        == "0.0.16"
    )
    assert offline_repo.status() == ""
    # bump refreshes as helm dependency update does: the outdated archive goes.
    bump(offline_repo.settings(), "0.16.2", ["metallb"])
    assert not Path(older).exists()
    assert offline_repo.path(VENDORED).is_file()
    assert tripwire.connections == 0


def test_vendored_archive_must_hold_the_chart_its_name_says(
    offline_repo: Repo, helm: Helm, tmp_path: Path
) -> None:
    misnamed = offline_repo.path("charts/metallb/charts/frr-k8s-0.0.15.tgz")
    shutil.copy2(offline_repo.path(VENDORED), misnamed)
    broken = offline_repo.path("charts/metallb/charts/broken-1.0.0.tgz")
    broken.write_bytes(b"not a gzip stream")
    offline_repo.commit()
    report = lint(offline_repo.settings(), ["metallb"])
    found = {p.path.name: p.message for p in report.problems if p.check == "dependencies"}
    assert found["frr-k8s-0.0.15.tgz"].startswith("holds chart frr-k8s 0.0.16 (under frr-k8s/)")
    assert found["broken-1.0.0.tgz"].startswith("not a valid chart archive: ")
    assert report.errors == 2
    # helm would load the broken archive as a subchart: it is not run, and lint says so.
    assert any(
        p.check == "helm-lint" and p.severity == "warning" and "not run" in p.message
        for p in report.problems
    )


# --------------------------------------------------------------------------- mirrors


def mirror_config(repo: Repo, mirror: dict[str, Any] | str) -> None:
    config = yaml.safe_load(repo.path("chartship.yaml").read_text())
    config["dependencies"] = {"mirrors": {UNREACHABLE: mirror}}
    repo.path("chartship.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    repo.commit()


def packaged_dependency(archive: Path) -> tuple[str, str, str]:
    """(repository in Chart.yaml, repository in Chart.lock, frr-k8s version) of a package."""
    meta = member_yaml(archive, "metallb/Chart.yaml")
    lock = member_yaml(archive, "metallb/Chart.lock")
    chart_repo = {d["name"]: d.get("repository") for d in meta["dependencies"]}["frr-k8s"]
    lock_repo = {d["name"]: d["repository"] for d in lock["dependencies"]}["frr-k8s"]
    sub = member_yaml(archive, "metallb/charts/frr-k8s/Chart.yaml")["version"]
    return chart_repo, lock_repo, sub


def test_http_mirror_serves_the_fetch_and_never_shows_in_the_package(
    unvendored: Repo, helm: Helm, tmp_path: Path, tripwire: Tripwire
) -> None:
    server, url = serve_upstream(helm, tmp_path / "mirror")
    with server:
        mirror_config(unvendored, url)
        made = {p.chart: p for p in package(unvendored.settings(), dev=True)}
        assert "/frr-k8s/index.yaml" in server.requests
        assert "/frr-k8s/frr-k8s-0.0.16.tgz" in server.requests
        report = lint(unvendored.settings())
    assert report.problems == []
    assert packaged_dependency(made["metallb"].archive) == (UNREACHABLE, UNREACHABLE, "0.0.16")
    assert unvendored.status() == ""
    assert tripwire.connections == 0


def test_mirror_credentials_come_from_the_environment_and_stay_secret(
    unvendored: Repo, helm: Helm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "s3cret-mirror-pass"
    site = tmp_path / "mirror"
    publish_repository(helm, [UPSTREAM_CHART], site / "frr-k8s", "http://unused.invalid/frr-k8s")
    # A relative chart URL, so the index works wherever it is served from.
    index = site / "frr-k8s" / "index.yaml"
    index.write_text(index.read_text().replace("http://unused.invalid/frr-k8s/", ""))
    with StaticServer(site, auth=("mirror-user", password)) as server:
        mirror_config(
            unvendored,
            {
                "url": f"{server.url}/frr-k8s",
                "username_env": "MIRROR_USER",
                "password_env": "MIRROR_PASSWORD",
            },
        )
        with pytest.raises(DependencyError, match="MIRROR_USER, MIRROR_PASSWORD"):
            package(unvendored.settings(), dev=True)
        monkeypatch.setenv("MIRROR_USER", "mirror-user")
        monkeypatch.setenv("MIRROR_PASSWORD", password)
        runner = RecordingRunner()
        out = io.StringIO()
        made = {p.chart: p for p in run_package(unvendored.settings(), dev=True, out=out)}
        package(unvendored.settings(), dev=True, force=True, runner=runner)
    assert packaged_dependency(made["metallb"].archive) == (UNREACHABLE, UNREACHABLE, "0.0.16")
    assert not any(password in " ".join(argv) for argv in runner.argvs)
    assert not any(password in text for text in runner.outputs)
    assert password not in out.getvalue()
    with tarfile.open(made["metallb"].archive, "r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member)
            assert handle is None or password.encode() not in handle.read()


def test_oci_mirror(unvendored: Repo, helm: Helm, tmp_path: Path, registry: RegistryServer) -> None:
    helm.run(["package", str(UPSTREAM_CHART), "--destination", str(tmp_path)])
    base = registry.oci_base("mirror")
    helm.run(["push", str(tmp_path / "frr-k8s-0.0.16.tgz"), base, "--plain-http"])
    mirror_config(unvendored, {"url": base, "plain_http": True})
    made = {p.chart: p for p in package(unvendored.settings(), dev=True)}
    assert packaged_dependency(made["metallb"].archive) == (UNREACHABLE, UNREACHABLE, "0.0.16")
    assert unvendored.status() == ""


def test_user_helm_repository_config_is_used_and_left_alone(
    tmp_path: Path, helm_bin: Path, helm: Helm
) -> None:
    password = "users-own-pass"
    site = tmp_path / "private"
    publish_repository(helm, [UPSTREAM_CHART], site / "frr-k8s", "http://unused.invalid/frr-k8s")
    index = site / "frr-k8s" / "index.yaml"
    index.write_text(index.read_text().replace("http://unused.invalid/frr-k8s/", ""))
    with StaticServer(site, auth=("me", password)) as server:
        url = f"{server.url}/frr-k8s"
        repo = make_repo(tmp_path / "r", helm_bin, url, vendored=False)
        # The user's own `helm repo add`, credentials and all, in their own config.
        helm.run(["repo", "add", "private", url, "--username", "me", "--password-stdin"],
                 stdin=password, secrets=(password,))  # fmt: skip
        own = Path(os.environ["HELM_REPOSITORY_CONFIG"])
        before = own.read_bytes()

        with pytest.raises(DependencyError, match="401"):
            package(repo.settings(), dev=True)
        made = {
            p.chart: p
            for p in package(repo.settings(**{"dependencies.repository_config": "helm"}), dev=True)
        }
        assert own.read_bytes() == before
    assert packaged_dependency(made["metallb"].archive) == (url, url, "0.0.16")
    assert repo.status() == ""


# --------------------------------------------------------------------------- read-only


def sibling_repo(base: Path, helm_bin: Path) -> Repo:
    root = base / "siblings"
    write_chart(root / "charts" / "base", "base", "0.1.0", {"appVersion": "1.0.0"})
    (root / "charts" / "base" / "templates").mkdir()
    (root / "charts" / "base" / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-base\n"
    )
    (root / "charts" / "app" / "templates").mkdir(parents=True)
    (root / "charts" / "app" / "templates" / "NOTES.txt").write_text("app\n")
    write_chart(
        root / "charts" / "app",
        "app",
        "0.1.0",
        {
            "appVersion": "1.0.0",
            "dependencies": [{"name": "base", "version": "0.1.0", "repository": "file://../base"}],
        },
    )
    (root / "chartship.yaml").write_text(f"helm: {helm_bin}\n")
    (root / ".gitignore").write_text("/dist/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return Repo(root, helm_bin, "file://../base")


def test_file_dependency_lint_and_dry_run_leave_the_tree_and_package_vendors_the_sibling(
    tmp_path: Path, helm_bin: Path
) -> None:
    repo = sibling_repo(tmp_path, helm_bin)
    report = lint(repo.settings())
    assert report.problems == []
    assert repo.git("status", "--porcelain", "--ignored") == ""  # no Chart.lock, no charts/
    with tarfile.open(package(repo.settings(), ["app"])[0].archive, "r:gz") as tar:
        assert "app/charts/base/templates/cm.yaml" in tar.getnames()
    # Alone, app's dependency is archived in a scratch copy: nothing lands in charts/.
    assert repo.git("status", "--porcelain", "--ignored") == "!! dist/\n"
    made = {p.chart: p for p in package(repo.settings(), force=True)}
    with tarfile.open(made["app"].archive, "r:gz") as tar:
        assert "app/charts/base/templates/cm.yaml" in tar.getnames()
    # Packaged together, app's own copy of base becomes the archive just built for it.
    vendored = repo.path("charts/app/charts/base-0.1.0.tgz")
    assert vendored.read_bytes() == made["base"].archive.read_bytes()
    assert repo.git("status", "--porcelain", "--untracked-files=all") == (
        "?? charts/app/charts/base-0.1.0.tgz\n"
    )


def test_unresolved_repository_alias_is_one_error_and_helm_lint_says_it_did_not_run(
    tmp_path: Path, helm_bin: Path
) -> None:
    repo = sibling_repo(tmp_path, helm_bin)
    app = repo.path("charts/app/Chart.yaml")
    app.write_text(app.read_text().replace("file://../base", "'@stable'"))
    repo.commit()
    report = lint(repo.settings(), ["app"])
    assert [(p.severity, p.check) for p in report.problems] == [
        ("error", "dependencies"),
        ("warning", "helm-lint"),
    ]
    assert "names its repository '@stable' by alias" in report.problems[0].message
    assert "add `stable: <url>` under dependencies.repositories" in report.problems[0].message
    with pytest.raises(DependencyError, match=r"dependency base names its repository '@stable'"):
        package(repo.settings(), ["app"])
    assert repo.status() == ""


def test_this_repository_lints_on_a_fresh_clone_with_nothing_running(
    tmp_path: Path, helm_bin: Path, tripwire: Tripwire
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-m", "chartship", "lint", "--helm", str(helm_bin)],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "lint: metallb, metallb-dashboards: no problems"
    assert tripwire.connections == 0
    assert git(clone, "status", "--porcelain") == ""


def test_vendored_archive_is_the_served_upstream_chart() -> None:
    vendored = archive_files(REPO / VENDORED)
    expected = {
        f"frr-k8s/{p.relative_to(UPSTREAM_CHART)}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in UPSTREAM_CHART.rglob("*")
        if p.is_file()
    }
    # helm package writes Chart.yaml anew (comments go); every other file is as served.
    chart_yaml = "frr-k8s/Chart.yaml"
    assert vendored.keys() == expected.keys()
    assert {k: v for k, v in vendored.items() if k != chart_yaml} == {
        k: v for k, v in expected.items() if k != chart_yaml
    }
    assert member_yaml(REPO / VENDORED, chart_yaml) == yaml.safe_load(
        (UPSTREAM_CHART / "Chart.yaml").read_text()
    )
    settings = load_settings(REPO / "chartship.yaml")
    chart = load(next(w for w in discover(settings) if w.name == "metallb"))
    lock = dependencies.read_lock(chart)
    assert lock is not None
    assert dependencies.lock_in_sync(chart, lock)
    assert dependencies.check(chart, REPO) == []
    # Committed, so not ignored: `git check-ignore` exits 1 for a path no rule ignores.
    check = ["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", VENDORED]
    assert subprocess.run(check, timeout=60).returncode == 1

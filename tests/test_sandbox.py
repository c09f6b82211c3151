"""``chartship sandbox`` as a user runs it: the console script, in a repository of theirs."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from chartship import cli
from chartship.artifacts import Artifact
from chartship.channels.classic.entry import entry_for
from chartship.sandbox.registry import REGISTRY_ENV
from chartship.sandbox.rehearsal import Source, make_origin
from chartship.toolchain import DEFAULT_HELM_VERSIONS
from tests.support.builders import Workspace, chart_archive, git, write_channels
from tests.test_embedding import PLAIN_TASKS, invoke, run_python

CHARTSHIP = Path(sys.executable).with_name("chartship")
CHART = "metallb"
#: A MetalLB-shaped classic channel: a prerelease, a gap (released, never indexed)
#: and an index entry whose release does not exist.
INDEXED = ["0.1.0", "0.2.0", "0.3.0-rc.1", "0.3.0"]
GAP = "0.4.0"
NO_RELEASE = "0.2.1"
#: Real addresses, as a maintainer's chartship.yaml has them: the sandbox must point
#: every one at 127.0.0.1 (nothing here can reach them).
REAL_CHANNELS: dict[str, dict[str, Any]] = {
    "github": {"repository": "metallb/metallb"},
    "pages": {"index_url": "https://metallb.github.io/metallb"},
    "oci": {"repository": "oci://quay.io/metallb/chart"},
}


#: Where helm's behaviour is not what a test is about: one major is enough.
one_helm = pytest.mark.parametrize("helm_version", DEFAULT_HELM_VERSIONS[-1:], ids=["helm4"])


def tag(version: str) -> str:
    return f"{CHART}-chart-{version}"


def real_url(version: str) -> str:
    return (
        f"https://github.com/metallb/metallb/releases/download/{tag(version)}/{CHART}-{version}.tgz"
    )


def classic_dir(base: Path) -> Path:
    """index.yaml and releases/download/<tag>/<file>, as README says to make them."""
    entries = []
    for number, version in enumerate([*INDEXED, NO_RELEASE, GAP]):
        built = Artifact.read(chart_archive(base / "built" / version, CHART, version))
        if version != NO_RELEASE:
            assets = base / "classic" / "releases" / "download" / tag(version)
            assets.mkdir(parents=True)
            (assets / built.archive.name).write_bytes(built.archive.read_bytes())
        if version != GAP:
            entries.append(entry_for(built, real_url(version), f"2023-0{number + 1}-01T00:00:00Z"))
    index = {"apiVersion": "v1", "entries": {CHART: entries}, "generated": "2024-01-01T00:00:00Z"}
    (base / "classic" / "index.yaml").write_text(yaml.safe_dump(index))
    return base / "classic"


def sandbox(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script, as a user runs it (its file, run by this interpreter)."""
    return run_python(cwd, str(CHARTSHIP), *args, env=env)


@pytest.fixture
def maintained(workspace: Workspace) -> Workspace:
    """The maintainer's repository: channels pointing at the real services, committed."""
    write_channels(workspace.path("chartship.yaml"), phase="dual", **REAL_CHANNELS)
    workspace.commit("channels")
    return workspace


def test_classic_from_rehearses_a_migration_of_a_real_channel(
    maintained: Workspace, tmp_path: Path
) -> None:
    before = maintained.git("status", "--porcelain")
    report = tmp_path / "report.json"
    proc = sandbox(
        maintained.root, "--helm", str(maintained.helm_bin), "sandbox",
        "--classic-from", str(classic_dir(tmp_path)),
        "--run", "migrate status", "--run", "migrate backfill", "--run", "migrate repair",
        "--report", str(report),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # The stand-in checked every request and answer against GitHub's description.
    assert "GitHub API description not honoured" not in proc.stderr
    held = json.loads(report.read_text())
    assert held["runs"] == [
        {"command": "migrate status", "exit": 0},
        {"command": "migrate backfill", "exit": 0},
        {"command": "migrate repair", "exit": 0},
    ]
    # Every valid release is copied, the gap included, under the maintainer's own
    # namespace (metallb/chart) on the sandbox's registry; repair indexed the gap.
    assert held["oci"] == {CHART: [*INDEXED, GAP]}
    assert held["index"] == {CHART: ["0.1.0", "0.2.0", NO_RELEASE, "0.3.0-rc.1", "0.3.0", GAP]}
    assert held["releases"] == sorted(tag(v) for v in [*INDEXED, GAP])
    # status found the gap and the anomaly through the stand-in the rewritten URLs point at.
    assert f"{CHART} {GAP}: released but not in index.yaml" in proc.stdout
    assert f"{CHART} {NO_RELEASE}: asset-missing" in proc.stdout
    assert "5 download URL(s) pointed at the GitHub stand-in" in proc.stdout
    assert "github.com" not in proc.stdout
    assert maintained.git("status", "--porcelain") == before


@one_helm
def test_a_committed_bump_is_released_once_and_then_known_as_released(
    maintained: Workspace, helm_version: str
) -> None:
    """The demo's sequence: bump --commit, release, release again."""
    before = maintained.git("rev-parse", "HEAD")
    proc = sandbox(
        maintained.root, "--helm", str(maintained.helm_bin), "sandbox",
        "--run", "bump --version 0.16.0 --commit metallb", "--run", "release",
        "--run", "release",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second = proc.stdout.split("$ chartship release")[1:]
    assert "release: 2 chart version(s) published and verified" in first
    # The run's commit was pushed (GitHub tagged it), its release tag fetched back.
    assert "metallb 0.16.0: left out (unchanged since metallb-chart-0.16.0)" in second
    assert "never released" not in second
    assert "release: 0 of 2 chart(s) to release" in second
    # The maintainer's own repository is untouched: the commit lives in the sandbox.
    assert maintained.git("rev-parse", "HEAD") == before
    assert "metallb-chart-0.16.0" not in maintained.git("tag", "--list")


@one_helm
def test_a_failed_run_stops_the_sequence_and_no_run_reaches_a_shell(
    maintained: Workspace, tmp_path: Path
) -> None:
    """Through the invoke task: its repeatable --run and --report reach the same core."""
    maintained.write("tasks.py", PLAIN_TASKS)
    maintained.commit("tasks")
    report = tmp_path / "report.json"
    # With a shell, `;` would end matrix's command and run touch.
    words = ["matrix", ";", "touch", "HACKED"]
    direct = sandbox(maintained.root, *words)
    assert direct.returncode not in (0, 70)
    proc = invoke(
        maintained, "sandbox", "--helm", str(maintained.helm_bin),
        "--run", " ".join(words), "--run", "lint", "--report", str(report),
    )  # fmt: skip
    assert proc.returncode == direct.returncode, proc.stdout + proc.stderr
    held = json.loads(report.read_text())
    assert held["runs"] == [{"command": " ".join(words), "exit": direct.returncode}]
    assert "$ chartship matrix ';' touch HACKED" in proc.stdout
    assert "$ chartship lint" not in proc.stdout
    assert f"`matrix ; touch HACKED` exited with status {direct.returncode}; 1 command(s)" in (
        proc.stderr
    )
    assert direct.stderr.strip().splitlines()[-1] in proc.stderr
    assert not list(tmp_path.rglob("HACKED"))
    assert not maintained.path("HACKED").exists()


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    """A committed repository with a chartship.yaml: all the checks below need."""
    root = tmp_path / "small"
    root.mkdir()
    (root / "chartship.yaml").write_text("charts_dir: charts\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "chartship.yaml")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "c")
    return root


@pytest.mark.parametrize(
    ("args", "env", "status", "words"),
    [
        pytest.param(
            (), {REGISTRY_ENV: "/nonexistent/docker-registry"}, 4,
            "apt-get install docker-registry", id="no-registry",
        ),
        pytest.param(
            ("--classic-from", "."), {}, 2, "has no index.yaml", id="classic-dir-without-index"
        ),
        pytest.param(("--run", "'unclosed"), {}, 2, "No closing quotation", id="unbalanced-run"),
        pytest.param(
            ("--run", "sandbox --keep"), {}, 2, "does not run inside a sandbox", id="nested"
        ),
        pytest.param(
            (), {"GIT_CEILING_DIRECTORIES": "/"}, 2, "is not in a git repository", id="no-git"
        ),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error(
    small_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...], env: dict[str, str], status: int, words: str,
) -> None:  # fmt: skip
    """In-process through the command line's own edge: no service, so no process needed."""
    if "GIT_CEILING_DIRECTORIES" in env:
        shutil.rmtree(small_repo / ".git")
    monkeypatch.chdir(small_repo)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["sandbox", *args]) == status
    err = capsys.readouterr().err
    assert err.startswith("chartship: error:"), err
    assert words in err
    assert "Traceback" not in err


def _read_until(stream: IO[str], marker: str, limit: int = 200) -> list[str]:
    lines = []
    for _ in range(limit):
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never printed:\n{''.join(lines)}")


@one_helm
def test_keep_serves_until_ctrl_c(maintained: Workspace) -> None:
    process = subprocess.Popen(
        [str(CHARTSHIP), "--helm", str(maintained.helm_bin), "sandbox", "--keep",
         "--run", "matrix"],
        cwd=maintained.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = _read_until(process.stdout, "helm repo add sandbox ")
        site = lines[-1].split()[-1]
        env_file = next(line.split()[1] for line in lines if line.strip().startswith(". "))
        assert "GITHUB_TOKEN=" in Path(env_file).read_text()
        assert Path(env_file).stat().st_mode & 0o077 == 0
        assert not any("GITHUB_TOKEN=" in line for line in lines)
        with pytest.raises(urllib.error.HTTPError) as served:
            urllib.request.urlopen(f"{site}/index.yaml", timeout=10)  # noqa: S310 - loopback
        assert served.value.code == 404  # up, and no index on gh-pages yet
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "sandbox: stopping the services" in out
    assert "Traceback" not in err
    assert not Path(env_file).exists()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{site}/index.yaml", timeout=10)  # noqa: S310 - loopback


def test_the_origin_of_a_fresh_clone_holds_each_branch_once(tmp_path: Path) -> None:
    """A fresh clone has both main and origin/main (and gh-pages only as origin/gh-pages):
    the sandbox's origin gets each branch once, the local one winning, and the tags."""
    upstream, clone, made = tmp_path / "upstream", tmp_path / "clone", tmp_path / "origin.git"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "commit", "-q", "--allow-empty", "-m", "first")
    git(upstream, "tag", "v1")
    git(upstream, "switch", "-q", "--orphan", "gh-pages")
    git(upstream, "commit", "-q", "--allow-empty", "-m", "pages")
    git(upstream, "switch", "-q", "main")
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    git(clone, "commit", "-q", "--allow-empty", "-m", "local, not pushed")

    make_origin(Source(clone, Path("."), "main"), made, "origin")

    heads = git(made, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
    assert dict(line.split() for line in heads.splitlines()) == {
        "refs/heads/main": git(clone, "rev-parse", "HEAD").strip(),
        "refs/heads/gh-pages": git(clone, "rev-parse", "origin/gh-pages").strip(),
    }
    assert git(made, "tag").split() == ["v1"]

"""``chartship.nox_sessions.register()`` installs exactly the chartship the noxfile imported.

The parsing is checked on distributions laid out on disk as installers lay them
(``*.dist-info`` with METADATA and PEP 610's ``direct_url.json``), the real thing
in throwaway consumer repositories: chartship installed from this checkout's
wheel, or from a ``git+file://`` URL of it, then ``nox -l`` and ``nox -s
chart-lint`` there with that environment's nox.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

import chartship
from chartship.errors import ConfigError
from chartship.nox_sessions import default_install, requirement_for
from tests.support.distributions import Distributions, source_tree

REPO = Path(__file__).resolve().parents[1]
VERSION = chartship.__version__
TIMEOUT = 600

#: The noxfile README.md gives an adopter (the test checks README still shows it).
NOXFILE = """\
import chartship.nox_sessions

INSTALL_HELM = ("python", "-m", "chartship.toolchain", "install", "--dest", ".tools")
chartship.nox_sessions.register(prefix="chart-", before=[INSTALL_HELM])
"""

CHART = """\
apiVersion: v2
name: hello
description: The one chart of a repository that adopts chartship.
type: application
version: 0.1.0
appVersion: "1.0.0"
"""

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hello
data:
  greeting: {{ .Values.greeting | quote }}
"""


# --------------------------------------------------------------------------- records on disk


def lay_out(
    site: Path, direct_url: dict[str, Any] | None, *, package: bool = True
) -> importlib.metadata.Distribution:
    """An installed chartship under ``site``, as pip writes one (RECORD aside)."""
    info = site / f"chartship-{VERSION}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.4\nName: chartship\nVersion: {VERSION}\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    if package:
        (site / "chartship").mkdir()
        (site / "chartship" / "__init__.py").write_text(f'__version__ = "{VERSION}"\n')
    [dist] = importlib.metadata.distributions(name="chartship", path=[str(site)])
    return dist


def test_this_environment_installs_this_checkout_editable() -> None:
    # The suite runs from `pip install -e .` of this checkout (README.md, Development).
    assert default_install() == ["-e", str(REPO)]


def test_index_install_gives_the_same_version(tmp_path: Path) -> None:
    dist = lay_out(tmp_path, None)
    spec = default_install(dist, module_file=tmp_path / "chartship" / "__init__.py")
    assert spec == [f"chartship=={VERSION}"]


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (
            {"url": "file:///src/chartship", "dir_info": {"editable": True}},
            ["-e", "/src/chartship"],
        ),
        ({"url": "file:///src/chart%20ship", "dir_info": {}}, ["/src/chart ship"]),
        (
            {"url": "file:///mono", "subdirectory": "py/chartship", "dir_info": {}},
            ["/mono/py/chartship"],
        ),
        (
            {"url": "file:///w/chartship-0.1.0-py3-none-any.whl", "archive_info": {}},
            ["/w/chartship-0.1.0-py3-none-any.whl"],
        ),
        (
            {
                "url": "https://files.example/chartship-0.1.0.tar.gz",
                "archive_info": {"hashes": {"sha256": "ab" * 32}, "hash": "md5=00"},
            },
            [f"https://files.example/chartship-0.1.0.tar.gz#sha256={'ab' * 32}"],
        ),
        (
            {"url": "https://files.example/c.whl", "archive_info": {"hash": "sha256=cd"}},
            ["https://files.example/c.whl#sha256=cd"],
        ),
        (
            {
                "url": "https://github.com/chartship/chartship",
                "vcs_info": {"vcs": "git", "commit_id": "1" * 40, "requested_revision": "main"},
            },
            [f"git+https://github.com/chartship/chartship@{'1' * 40}"],
        ),
        (
            {
                "url": "https://hg.example/mono",
                "subdirectory": "chartship",
                "vcs_info": {"vcs": "hg", "commit_id": "f00d"},
            },
            ["hg+https://hg.example/mono@f00d#subdirectory=chartship"],
        ),
    ],
    ids=[
        "editable",
        "directory",
        "subdirectory",
        "local-wheel",
        "remote-archive",
        "legacy-hash",
        "git",
        "hg-subdirectory",
    ],
)
def test_pep610_records_become_the_same_install(
    direct_url: dict[str, Any], expected: list[str]
) -> None:
    assert requirement_for(direct_url, VERSION) == expected


@pytest.mark.parametrize(
    ("direct_url", "message"),
    [
        ({"dir_info": {}}, "has no url"),
        ({"url": "https://x/y", "vcs_info": {"vcs": "git"}}, "vcs_info lacks a commit"),
        ({"url": "https://x/dir", "dir_info": {}}, "directory https://x/dir"),
        ({"url": "https://x/y"}, "records none of vcs_info, dir_info, archive_info"),
    ],
)
def test_records_that_name_no_install_are_refused(direct_url: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        requirement_for(direct_url, VERSION)


def test_a_chartship_imported_from_elsewhere_is_refused(tmp_path: Path) -> None:
    dist = lay_out(tmp_path / "site", None)
    elsewhere = tmp_path / "checkout" / "src" / "chartship" / "__init__.py"
    with pytest.raises(ConfigError) as caught:
        default_install(dist, module_file=elsewhere)
    message = str(caught.value)
    assert f"the chartship imported ({elsewhere.parent}) is not the installed" in message
    assert "register(install=[...])" in message

    editable = lay_out(
        tmp_path / "site2",
        {"url": (tmp_path / "one").as_uri(), "dir_info": {"editable": True}},
        package=False,
    )
    with pytest.raises(ConfigError, match="is not the installed distribution"):
        default_install(editable, module_file=tmp_path / "two" / "chartship" / "__init__.py")
    inside = tmp_path / "one" / "src" / "chartship" / "__init__.py"
    assert default_install(editable, module_file=inside) == ["-e", str(tmp_path / "one")]


def test_an_unreadable_record_is_a_config_error(tmp_path: Path) -> None:
    dist = lay_out(tmp_path, None)
    (
        Path(str(dist.locate_file(""))) / f"chartship-{VERSION}.dist-info" / "direct_url.json"
    ).write_text("{not json")
    with pytest.raises(ConfigError, match=r"direct_url\.json of chartship"):
        default_install(dist, module_file=tmp_path / "chartship" / "__init__.py")


def test_a_real_wheel_install_records_the_wheel(
    tmp_path: Path, chartship_dists: Distributions
) -> None:
    # pip's own record, without the dependencies: --target lays out one directory.
    pip(
        sys.executable,
        "install",
        "--no-deps",
        "--target",
        str(tmp_path),
        str(chartship_dists.wheel),
    )
    [dist] = importlib.metadata.distributions(name="chartship", path=[str(tmp_path)])
    spec = default_install(dist, module_file=tmp_path / "chartship" / "__init__.py")
    assert spec == [str(chartship_dists.wheel)]


# --------------------------------------------------------------------------- consumer repositories


def clean_env(wheelhouse: Path | None = None) -> dict[str, str]:
    """This process's environment minus what ties a child to this virtualenv.

    With ``wheelhouse``, pip (the consumer's and the nox sessions') installs from
    there only: each install then takes seconds instead of a minute of downloads.
    """
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if wheelhouse is not None:
        env.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)})
    return env


def run(
    argv: list[str], cwd: Path, wheelhouse: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
        env=clean_env(wheelhouse),
    )


def pip(python: str, *args: str, wheelhouse: Path | None = None) -> None:
    """``python -m pip [--python TARGET] install -q ARGS``."""
    options = list(args[:2]) if args[:1] == ("--python",) else []
    rest = list(args[len(options) :])
    argv = [python, "-m", "pip", *options, "install", "-q", *rest]
    proc = run(argv, Path.cwd(), wheelhouse)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def consumer_repo(root: Path, helm_version: str) -> Path:
    """A repository with one chart that adopts chartship the way README.md says."""
    (root / "charts" / "hello" / "templates").mkdir(parents=True)
    (root / "charts" / "hello" / "Chart.yaml").write_text(CHART)
    (root / "charts" / "hello" / "values.yaml").write_text("greeting: hello\n")
    (root / "charts" / "hello" / "templates" / "configmap.yaml").write_text(TEMPLATE)
    (root / "chartship.yaml").write_text(f"helm: .tools/helm/v{helm_version}/helm\n")
    (root / "noxfile.py").write_text(NOXFILE)
    (root / ".gitignore").write_text("/.tools/\n/dist/\n/.nox/\n/.venv/\n")
    # The pinned helm binaries this checkout already verified; the session's
    # `toolchain install` re-verifies them there instead of downloading again.
    (root / ".tools").symlink_to(REPO / ".tools", target_is_directory=True)
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "A chart"],
    ):
        proc = run(argv, root)
        assert proc.returncode == 0, proc.stderr
    return root


def consumer_venv(root: Path, source: str, wheelhouse: Path) -> Path:
    """``root/.venv`` with chartship (and so nox) installed from ``source``."""
    # This environment's pip installs into it (pip --python): seeding a pip of its
    # own would take as long as the install itself.
    venv.create(root / ".venv", with_pip=False)
    python = root / ".venv" / "bin" / "python"
    pip(sys.executable, "--python", str(python), source, wheelhouse=wheelhouse)
    return python


def recorded(python: Path) -> dict[str, Any]:
    """The direct_url.json of the chartship installed for ``python``."""
    code = (
        "import importlib.metadata as m; "
        "print(m.distribution('chartship').read_text('direct_url.json'))"
    )
    proc = run([str(python), "-c", code], python.parent)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def nox_lint(root: Path, python: Path, wheelhouse: Path) -> tuple[str, str]:
    """``nox -l`` and ``nox -s chart-lint`` with the consumer's nox; their output."""
    nox = str(python.parent / "nox")
    listed = run([nox, "-l"], root)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    linted = run([nox, "-s", "chart-lint"], root, wheelhouse)
    output = linted.stdout + linted.stderr
    assert linted.returncode == 0, output
    return listed.stdout, output


def test_readme_gives_the_tested_noxfile() -> None:
    assert NOXFILE in (REPO / "README.md").read_text()


def test_consumer_installed_from_a_wheel_gets_that_wheel(
    tmp_path: Path, chartship_dists: Distributions, wheelhouse: Path
) -> None:
    root = consumer_repo(tmp_path / "consumer", "3.19.0")
    python = consumer_venv(root, str(chartship_dists.wheel), wheelhouse)
    listed, output = nox_lint(root, python, wheelhouse)
    assert "* chart-lint -> Lint every chart" in listed
    assert "- chart-publish -> Release:" in listed
    assert f"nox > python -m pip install {chartship_dists.wheel}\n" in output
    assert "lint: hello: no problems" in output
    session_python = root / ".nox" / "chart-lint" / "bin" / "python"
    assert recorded(session_python) == recorded(python)
    assert recorded(python)["url"] == chartship_dists.wheel.as_uri()


def test_consumer_installed_from_a_git_url_gets_that_commit(
    tmp_path: Path, wheelhouse: Path
) -> None:
    # A git repository of this checkout as it is now, committed files and new ones.
    origin = source_tree(REPO, tmp_path / "chartship.git")
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "chartship"],
    ):
        proc = run(argv, origin)
        assert proc.returncode == 0, proc.stderr
    commit = run(["git", "rev-parse", "HEAD"], origin).stdout.strip()
    url = f"git+{origin.as_uri()}@main"

    root = consumer_repo(tmp_path / "consumer", "4.3.1")
    python = consumer_venv(root, url, wheelhouse)
    record = recorded(python)
    assert record["vcs_info"]["commit_id"] == commit
    _listed, output = nox_lint(root, python, wheelhouse)
    # The commit main pointed at, not the branch: the same code whatever main becomes.
    assert f"nox > python -m pip install git+{origin.as_uri()}@{commit}\n" in output
    assert "lint: hello: no problems" in output
    session_record = recorded(root / ".nox" / "chart-lint" / "bin" / "python")
    assert session_record["vcs_info"]["commit_id"] == commit
    assert session_record["url"] == origin.as_uri()

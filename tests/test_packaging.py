"""chartship as the package index gets it: ``python -m build`` and ``twine check``, then
what the sdist holds and what the wheel's metadata says."""

from __future__ import annotations

import email.message
import email.parser
import importlib
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import trove_classifiers

import chartship
from tests.support.distributions import Distributions, committable_files

REPO = Path(__file__).resolve().parents[1]
PREFIX = f"chartship-{chartship.__version__}"
DIST_INFO = f"chartship-{chartship.__version__}.dist-info"
HOME = "https://github.com/chartship/chartship"

#: Files every repository that adopts chartship has under these same names, so
#: the description may name them although this repository's copies are not shipped.
ADOPTER_FILES = frozenset({"chartship.yaml", "charts", "noxfile.py", "tasks.py"})


def package_files() -> set[str]:
    """The package as git holds it: what both the sdist and the wheel must carry."""
    return {p for p in committable_files(REPO) if p.startswith("src/chartship/")}


def sdist_members(dists: Distributions) -> set[str]:
    with tarfile.open(dists.sdist) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    assert all(n.startswith(f"{PREFIX}/") for n in names), names
    return {n.removeprefix(f"{PREFIX}/") for n in names}


def wheel_members(dists: Distributions) -> set[str]:
    with zipfile.ZipFile(dists.wheel) as whl:
        return set(whl.namelist())


def metadata(dists: Distributions) -> email.message.Message:
    with zipfile.ZipFile(dists.wheel) as whl:
        text = whl.read(f"{DIST_INFO}/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def test_sdist_carries_the_package_and_no_tests(chartship_dists: Distributions) -> None:
    members = sdist_members(chartship_dists)
    assert not {m for m in members if m.startswith("tests/")}, "the sdist carries tests"
    egg_info = {m for m in members if m.startswith("src/chartship.egg-info/")}
    assert egg_info, members
    assert members - egg_info == package_files() | {
        "LICENSE",
        "MANIFEST.in",
        "PKG-INFO",
        "README.md",
        "README.pypi.md",
        "pyproject.toml",
        "setup.cfg",
    }


def test_wheel_carries_the_package_and_its_licence(chartship_dists: Distributions) -> None:
    members = wheel_members(chartship_dists)
    code = {m for m in members if not m.startswith(f"{DIST_INFO}/")}
    assert code == {p.removeprefix("src/") for p in package_files()}
    assert f"{DIST_INFO}/licenses/LICENSE" in members
    with zipfile.ZipFile(chartship_dists.wheel) as whl:
        shipped = whl.read(f"{DIST_INFO}/licenses/LICENSE").decode()
    assert shipped == (REPO / "LICENSE").read_text()
    assert "Apache License" in shipped
    assert "Version 2.0, January 2004" in shipped
    assert "END OF TERMS AND CONDITIONS" in shipped


def test_metadata_licence_classifiers_and_urls(chartship_dists: Distributions) -> None:
    meta = metadata(chartship_dists)
    assert meta["Name"] == "chartship"
    assert meta["Version"] == chartship.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    # A license expression replaces the legacy field and the License :: classifiers.
    assert meta["License"] is None

    classifiers = meta.get_all("Classifier") or []
    assert classifiers, "no classifiers"
    unknown = [c for c in classifiers if c not in trove_classifiers.classifiers]
    assert not unknown, f"the package index rejects unknown classifiers: {unknown}"
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert "Typing :: Typed" in classifiers  # py.typed is shipped: see the wheel test
    minimum = tuple(int(x) for x in meta["Requires-Python"].removeprefix(">=").split("."))
    pythons = [c.rsplit(" :: ", 1)[1] for c in classifiers if re.search(r":: 3\.\d+$", c)]
    assert pythons, classifiers
    assert all(tuple(int(x) for x in v.split(".")) >= minimum for v in pythons), pythons

    urls = dict(value.split(", ", 1) for value in meta.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert urls["Homepage"] == urls["Source"] == HOME
    assert urls["Documentation"] == f"{HOME}#readme"
    assert urls["Issues"] == f"{HOME}/issues"


def test_long_description_names_only_what_the_wheel_ships(
    chartship_dists: Distributions,
) -> None:
    meta = metadata(chartship_dists)
    assert meta["Description-Content-Type"] == "text/markdown"
    description = meta.get_payload()
    assert isinstance(description, str)
    assert description.strip() == (REPO / "README.pypi.md").read_text().strip()

    links = re.findall(r"\]\(([^)]+)\)", description)
    relative = [link for link in links if not re.match(r"https?://|#", link)]
    assert not relative, f"relative links break on the package index: {relative}"

    # Code spans and command lines the text names: none may be a file of this
    # repository that the wheel does not ship.
    spans = re.findall(r"`([^`\n]+)`", description)
    blocks = re.findall(r"```[a-z]*\n(.*?)```", description, re.DOTALL)
    words = {w.rstrip("/.,:;") for text in spans + blocks for w in text.split()}
    repo_only = set()
    for path in committable_files(REPO):
        if path.startswith("src/chartship/"):
            continue
        parts = Path(path).parts
        repo_only |= {"/".join(parts[: i + 1]) for i in range(len(parts))}
    named = sorted((words & repo_only) - ADOPTER_FILES)
    assert not named, f"the description names files the wheel does not ship: {named}"

    # Every chartship module (or module attribute) it names is in the wheel.
    shipped = {
        m.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for m in wheel_members(chartship_dists)
        if m.endswith(".py")
    }
    names = set(re.findall(r"\bchartship(?:\.[a-z_]+)+", description)) - ADOPTER_FILES
    assert names, "the description names no module"
    for name in sorted(names):
        parts = name.split(".")
        cut = max(i for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in shipped)
        target: object = importlib.import_module(".".join(parts[:cut]))
        for attribute in parts[cut:]:
            assert hasattr(target, attribute), f"the description names {name}, which is missing"
            target = getattr(target, attribute)


def test_twine_check_passes_both_distributions(chartship_dists: Distributions) -> None:
    files = [str(chartship_dists.sdist), str(chartship_dists.wheel)]
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert output.count("PASSED") == 2, output
    assert "WARNING" not in output, output

"""The repository's release workflow: what it runs, and with which rights and secrets."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from chartship.config import load_settings, parse_assignment

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "release-charts.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def test_runs_publish_on_chart_release_tags_with_least_rights() -> None:
    data = workflow()
    # PyYAML reads the key `on` as True.
    assert data[True] == {"push": {"tags": ["*-chart-*"]}}
    assert data["permissions"] == {}
    job = data["jobs"]["publish"]
    assert job["permissions"] == {"contents": "write", "packages": "write"}
    steps = job["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses, "no actions used"
    for action in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", action), f"{action} is not pinned"
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    publish = next(s for s in steps if s.get("id") == "publish")
    assert "nox -s publish --" in publish["run"]
    assert "secrets." not in publish["run"]
    assert set(publish["env"]) == {
        "GITHUB_TOKEN",
        "CHARTSHIP_OCI_USERNAME",
        "CHARTSHIP_OCI_PASSWORD",
    }


def test_its_overrides_make_a_valid_dual_phase_configuration() -> None:
    run = next(s for s in workflow()["jobs"]["publish"]["steps"] if s.get("id") == "publish")
    command = run["run"].split("nox -s publish --", 1)[1].replace("\\\n", " ")
    expanded = (
        command.replace("${owner}", "metallb")
        .replace("${GITHUB_REPOSITORY#*/}", "metallb")
        .replace("${GITHUB_REPOSITORY}", "metallb/metallb")
    )
    words = shlex.split(expanded)
    overrides = dict(parse_assignment(v) for k, v in itertools.pairwise(words) if k == "--set")
    settings = load_settings(ROOT / "chartship.yaml", overrides)
    assert settings.channels.phase == "dual"
    assert settings.channels.oci is not None
    assert settings.channels.oci.repository == "oci://ghcr.io/metallb/charts"
    assert settings.channels.pages is not None
    assert settings.channels.pages.index_url == "https://metallb.github.io/metallb/"
    assert settings.channels.github is not None
    assert settings.channels.github.repository == "metallb/metallb"


def test_readme_metallb_configuration_is_valid(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### MetalLB: adopting chartship", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "chartship.yaml").write_text(block)
    settings = load_settings(tmp_path / "chartship.yaml")
    assert settings.release_tag("metallb", "0.16.2") == "metallb-chart-0.16.2"
    assert settings.channels.phase == "dual"
    assert settings.channels.oci is not None
    assert settings.channels.oci.repository == "oci://quay.io/metallb/chart"
    assert settings.chart("metallb").lockstep == ("crds",)

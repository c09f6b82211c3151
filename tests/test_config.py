"""chartship.yaml: strict validation with the file, key and line named; overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from chartship.commands import settings_from
from chartship.config import (
    ChartSettings,
    describe_settings,
    load_settings,
    parse_assignment,
)
from chartship.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chartship.yaml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    return caught.value


def test_repository_configuration_loads() -> None:
    settings = load_settings(REPO / "chartship.yaml")
    assert settings.chart("metallb") == ChartSettings(app_version_prefix="v", lockstep=("crds",))
    assert settings.chart("metallb-dashboards") == ChartSettings()
    assert settings.release_tag("metallb", "0.16.2") == "metallb-chart-0.16.2"
    assert settings.root == REPO
    assert settings.helm_binary == str(REPO / ".tools/helm/v4.3.1/helm")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""))
    assert settings.charts_dir == "charts"
    assert settings.release.tag == "{name}-{version}"
    assert settings.channels.phase == "classic"
    assert settings.helm_binary == "helm"


def test_unknown_key_names_file_key_line_and_known_keys(tmp_path: Path) -> None:
    error = error_for(tmp_path, "charts_dir: charts\nlint:\n  workers: 2\n  strictt: true\n")
    assert error.path == tmp_path / "chartship.yaml"
    assert error.key == "lint.strictt"
    assert error.line == 4
    text = str(error)
    assert text.startswith(f"{tmp_path / 'chartship.yaml'}:4: lint.strictt: unknown key")
    assert "repository_timeout" in text
    assert "workers" in text


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("lint:\n  workers: two\n", "lint.workers", "must be an integer"),
        ("lint:\n  workers: 0\n", "lint.workers", "at least 1"),
        ("lint:\n  workers: true\n", "lint.workers", "must be an integer"),
        ("lint:\n  version_increment: 'yes'\n", "lint.version_increment", "true or false"),
        ("lint:\n  repository_timeout: -1\n", "lint.repository_timeout", "positive"),
        ("charts_dir: [a]\n", "charts_dir", "must be a string"),
        ("charts:\n  metallb:\n    lockstep: crds\n", "charts.metallb.lockstep", "list of strings"),
        (
            "charts:\n  metallb:\n    lockstep: [1]\n",
            "charts.metallb.lockstep.0",
            "must be a string",
        ),
        ("charts: []\n", "charts", "must be a mapping"),
        ("channels:\n  phase: hybrid\n", "channels.phase", "'classic' or 'dual'"),
        ("release:\n  tag: '{name}'\n", "release.tag", "must contain {version}"),
        ("release:\n  tag: '{name}-{vers}'\n", "release.tag", "bad template"),
        ("release:\n", "release", "must be a mapping, not empty"),
    ],
)
def test_wrong_types_and_values(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    error = error_for(tmp_path, text)
    assert error.key == key
    assert fragment in str(error)
    assert str(tmp_path / "chartship.yaml") in str(error)


def test_missing_required_value(tmp_path: Path) -> None:
    error = error_for(tmp_path, "channels:\n  phase: oci-only\n  oci:\n    plain_http: true\n")
    assert error.key == "channels.oci.repository"
    assert "is required" in str(error)
    assert error.line == 3


def test_channel_values_are_checked(tmp_path: Path) -> None:
    assert "oci://" in str(
        error_for(tmp_path, "channels:\n  phase: oci-only\n  oci:\n    repository: quay.io/x\n")
    )
    assert "owner/name" in str(
        error_for(
            tmp_path,
            "channels:\n  github:\n    repository: metallb\n"
            "  pages:\n    index_url: https://metallb.github.io/metallb\n",
        )
    )


def test_phase_needs_its_channels(tmp_path: Path) -> None:
    error = error_for(
        tmp_path,
        "channels:\n  phase: dual\n  github:\n    repository: metallb/metallb\n"
        "  pages:\n    index_url: https://metallb.github.io/metallb\n",
    )
    assert error.key == "channels.oci"
    assert "required in phase 'dual'" in str(error)
    error = error_for(
        tmp_path, "channels:\n  pages:\n    index_url: https://metallb.github.io/metallb\n"
    )
    assert error.key == "channels.github"
    assert "required in phase 'classic'" in str(error)


def test_archives_on_pages_need_no_github(tmp_path: Path) -> None:
    path = tmp_path / "chartship.yaml"
    path.write_text(
        "channels:\n  pages:\n    index_url: https://charts.example/\n    packages: pages\n"
    )
    settings = load_settings(path)
    assert settings.channels.github is None
    assert settings.channels.pages is not None
    assert settings.channels.pages.packages == "pages"


def test_full_metallb_style_configuration(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            """
charts:
  metallb: {app_version_prefix: v, lockstep: [crds]}
release:
  tag: "{name}-chart-{version}"
channels:
  phase: dual
  github: {repository: metallb/metallb}
  pages: {index_url: "https://metallb.github.io/metallb", branch: gh-pages}
  oci: {repository: "oci://quay.io/metallb/chart"}
""",
        )
    )
    assert settings.channels.oci is not None
    assert settings.channels.oci.repository == "oci://quay.io/metallb/chart"
    assert settings.channels.oci.password_env == "CHARTSHIP_OCI_PASSWORD"
    assert settings.channels.github is not None
    assert not settings.channels.github.make_latest


def test_malformed_yaml_and_duplicates(tmp_path: Path) -> None:
    error = error_for(tmp_path, "lint:\n  workers: [1\n")
    assert "malformed YAML" in str(error)
    assert error.line is not None
    dup = error_for(tmp_path, "dist_dir: a\ndist_dir: b\n")
    assert dup.key == "dist_dir"
    assert dup.line == 2
    assert "twice" in str(dup)
    assert "mapping of settings" in str(error_for(tmp_path, "- a\n- b\n"))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_overrides_win_and_are_validated(tmp_path: Path) -> None:
    path = write(tmp_path, "lint:\n  workers: 2\n")
    assert load_settings(path, {"lint.workers": 8}).lint.workers == 8
    assert load_settings(path, {"lint": {"workers": 3}}).lint.workers == 3
    assert (
        load_settings(path, {"charts.metallb.app_version_prefix": "v"})
        .chart("metallb")
        .app_version_prefix
        == "v"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"lint.workers": "many"})
    assert caught.value.key == "lint.workers"
    with pytest.raises(ConfigError) as unknown:
        load_settings(path, {"bogus": 1})
    assert unknown.value.key == "bogus"


def test_parse_assignment_reads_yaml_scalars() -> None:
    assert parse_assignment("lint.workers=2") == ("lint.workers", 2)
    assert parse_assignment("channels.oci.plain_http=true") == ("channels.oci.plain_http", True)
    assert parse_assignment("helm=/opt/helm") == ("helm", "/opt/helm")
    assert parse_assignment("release.tag={name}-chart-{version}") == (
        "release.tag",
        "{name}-chart-{version}",
    )
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("novalue")


def test_settings_from_finds_the_nearest_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "dist_dir: out\n")
    nested = tmp_path / "charts" / "x"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    settings = settings_from(None, {"helm": "", "lint.workers": None})
    assert settings.dist_path == tmp_path / "out"
    assert settings.source == tmp_path / "chartship.yaml"


def test_every_key_is_documented_in_readme() -> None:
    readme = (REPO / "README.md").read_text()
    for key, _default, meaning in describe_settings():
        assert meaning, f"{key} has no description"
        assert f"`{key}`" in readme, f"README.md does not document {key}"

"""Recording a phase in chartship.yaml (one value changes, every other byte stays), and the
decisions file beside it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from invoke.context import Context
from invoke.exceptions import Exit

from chartship import cli, tasks
from chartship.commands import run_migrate_phase
from chartship.config import load_settings
from chartship.errors import ConfigError
from chartship.migrate.decisions import DECISIONS_FILE, Decision, load_decisions, record
from chartship.migrate.notices import move_to_oci
from chartship.migrate.phases import _write_phase

CHANNELS = """\
# release channels
channels:
  phase: dual   # moved by chartship migrate phase
  github:
    repository: o/r
  pages:
    index_url: https://o.example/charts
  oci:
    repository: oci://registry.example/charts
"""


def test_moving_back_rewrites_only_the_value_and_keeps_crlf(tmp_path: Path) -> None:
    path = tmp_path / "chartship.yaml"
    path.write_bytes(CHANNELS.replace("\n", "\r\n").encode())
    out = io.StringIO()
    run_migrate_phase(load_settings(path), "classic", environ={}, out=out)
    assert out.getvalue() == f"phase: moved from dual to classic ({path})\n"
    expected = CHANNELS.replace("phase: dual ", "phase: classic ").replace("\n", "\r\n")
    assert path.read_bytes() == expected.encode()
    assert load_settings(path).channels.phase == "classic"


def test_a_missing_phase_key_is_added_under_channels(tmp_path: Path) -> None:
    path = tmp_path / "chartship.yaml"
    path.write_text(CHANNELS.replace("  phase: dual   # moved by chartship migrate phase\n", ""))
    _write_phase(load_settings(path), "oci-only")
    text = path.read_text()
    assert text.startswith("# release channels\nchannels:\n  phase: oci-only\n  github:\n")
    assert load_settings(path).channels.phase == "oci-only"


# --------------------------------------------------------------------------- decisions file

DECISIONS_CASES = {
    "decisions: [1, 2]\n": "decisions: must map chart names to versions",
    "decisions:\n  c:\n    1.0.0:\n      as: keep\n": "as must be one of asset, skip",
    "decisions:\n  c:\n    1.0.0:\n      as: skip\n      anomalies: [duplicate]\n": (
        "needs a reason"
    ),
    "decisions:\n  c:\n    1.0.0:\n      as: asset\n      anomalies: [duplicate]\n"
    "      reason: r\n": "as: asset needs sha256",
    "decisions:\n  c:\n    1.0.0: {as: skip, anomalies: [], reason: r}\n": (
        "anomalies must be a non-empty list"
    ),
    "decisions:\n  c:\n    1.0.0: {as: skip, anomalies: [x], reason: r, who: me}\n": (
        "unknown key(s) who"
    ),
    "decisions:\n  c:\n    1.0.0: {as: skip, anomalies: [x], reason: r}\n"
    "    1.0.0: {as: skip, anomalies: [x], reason: r}\n": "key decisions.c.1.0.0 appears twice",
    "other: 1\n": "must be a mapping with the one key decisions",
}


def test_a_wrong_decisions_file_is_refused_naming_file_and_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "chartship.yaml"
    config.write_text(CHANNELS.replace("phase: dual", "phase: oci-primary"))
    path = tmp_path / DECISIONS_FILE
    for text, problem in DECISIONS_CASES.items():
        path.write_text(text)
        with pytest.raises(ConfigError) as refused:
            load_decisions(load_settings(config))
        assert problem in refused.value.message, text
        assert refused.value.path == path
        # Read before any channel is asked: the edge says so with exit 2, no traceback.
        assert cli.main(["--config", str(config), "migrate", "verify"]) == 2
        err = capsys.readouterr().err
        assert str(path) in err
        assert problem in err
        assert "Traceback" not in err


def test_decisions_are_written_sorted_by_chart_and_version(tmp_path: Path) -> None:
    config = tmp_path / "chartship.yaml"
    config.write_text(CHANNELS)
    settings = load_settings(config)
    sha = "a" * 64
    for chart, version in (("b", "0.10.0"), ("b", "0.9.0"), ("a", "1.0.0"), ("b", "0.9.0-rc.1")):
        record(settings, Decision(chart, version, "skip", "why", ("duplicate",)))
    record(settings, Decision("a", "0.1.0", "asset", "the asset", ("digest-mismatch",), sha))
    text = (tmp_path / DECISIONS_FILE).read_text()
    assert text.startswith("# Decisions on the classic channel's anomalies")
    data = yaml.safe_load(text)["decisions"]
    assert list(data) == ["a", "b"]
    assert list(data["a"]) == ["0.1.0", "1.0.0"]
    assert list(data["b"]) == ["0.9.0-rc.1", "0.9.0", "0.10.0"]
    assert data["a"]["0.1.0"] == {
        "as": "asset", "sha256": sha, "anomalies": ["digest-mismatch"], "reason": "the asset",
    }  # fmt: skip
    loaded = load_decisions(settings)
    assert loaded[("a", "0.1.0")].sha256 == sha
    assert loaded[("b", "0.10.0")].covers({"duplicate"})
    assert not loaded[("b", "0.10.0")].covers({"duplicate", "placeholder"})


def test_the_sunset_date_is_a_date(tmp_path: Path) -> None:
    config = tmp_path / "chartship.yaml"
    sunset = "    index_url: https://o.example/charts\n    sunset: {}\n"
    plain = "    index_url: https://o.example/charts\n"
    config.write_text(CHANNELS.replace(plain, sunset.format("2027-06-30")))
    pages = load_settings(config).channels.pages
    assert pages is not None
    assert pages.sunset == "2027-06-30"  # YAML's date, as written
    config.write_text(CHANNELS.replace(plain, sunset.format("next summer")))
    with pytest.raises(ConfigError, match=r"channels.pages.sunset: must be a date YYYY-MM-DD"):
        load_settings(config)


def test_accept_needs_its_flags_on_every_front_end(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["migrate", "accept", "1.0.0", "--as", "asset"],  # no --reason
        ["migrate", "accept", "1.0.0", "--as", "keep", "--reason", "r"],
        ["migrate", "accept", "--as", "skip", "--reason", "r"],  # no VERSION
    ):
        assert cli.main(argv) == 2, argv
    assert "argument --as: invalid choice: 'keep'" in capsys.readouterr().err
    for flags, missing in (({"as_": "skip"}, "--version"), ({"version": "1.0.0"}, "--as")):
        with pytest.raises(Exit) as refused:
            tasks.migrate_accept(Context(), reason="r", **flags)
        assert refused.value.code == 2
        assert f"migrate.accept needs {missing}" in str(refused.value.message)


def test_release_notes_notice_names_no_phase_and_gives_the_date(tmp_path: Path) -> None:
    config = tmp_path / "chartship.yaml"
    plain = "    index_url: https://o.example/charts\n"
    config.write_text(
        CHANNELS.replace("phase: dual", "phase: oci-primary").replace(
            plain, plain + "    sunset: 2027-06-30\n"
        )
    )
    text = move_to_oci(load_settings(config), "metallb")
    assert text == (
        "The chart repository at https://o.example/charts is deprecated and receives no new "
        "chart versions after 2027-06-30. New versions are published at "
        "oci://registry.example/charts: `helm install <release> "
        "oci://registry.example/charts/metallb --version <version>`."
    )

"""Recording a phase in chartship.yaml: one value changes, every other byte stays."""

from __future__ import annotations

import io
from pathlib import Path

from chartship.commands import run_migrate_phase
from chartship.config import load_settings
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

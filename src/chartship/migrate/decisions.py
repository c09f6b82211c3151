"""The maintainers' decisions on anomalies, in a reviewable file beside chartship.yaml.

An anomalous version cannot be copied as it is; before the classic channel is
deprecated someone has to say what happens to it: ``asset`` (OCI gets the
release asset's bytes, pinned here by their sha256) or ``skip`` (it stays in
the classic channel only). Each decision names the anomalies it was made for,
so a new anomaly on the same version needs a new decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import yaml

from chartship import versions
from chartship.config import Settings
from chartship.errors import ChartshipError, ConfigError, UsageError
from chartship.yamlfiles import CONFIG, load_yaml

DECISIONS_FILE = "chartship-decisions.yaml"
Action = Literal["asset", "skip"]
ACTIONS: tuple[str, ...] = get_args(Action)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HEADER = (
    "# Decisions on the classic channel's anomalies, one per chart version.\n"
    "# Recorded by `chartship migrate accept`; review them like code.\n"
    "# as: asset copies the release asset's bytes (sha256) to OCI; skip leaves the\n"
    "# version in the classic channel only.\n"
)


@dataclass(frozen=True)
class Decision:
    chart: str
    version: str
    action: Action
    reason: str
    anomalies: tuple[str, ...]
    sha256: str | None = None  # the asset's bytes, for ``asset``

    @property
    def key(self) -> tuple[str, str]:
        return self.chart, self.version

    def covers(self, kinds: set[str]) -> bool:
        return kinds <= set(self.anomalies)

    def describe(self) -> str:
        what = f"asset sha256:{self.sha256}" if self.action == "asset" else "skip"
        return f"{self.chart} {self.version}: {what} ({', '.join(self.anomalies)}): {self.reason}"

    def as_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"as": self.action}
        if self.sha256:
            data["sha256"] = self.sha256
        data["anomalies"] = list(self.anomalies)
        data["reason"] = self.reason
        return data


def decisions_path(settings: Settings) -> Path:
    if settings.source is None:
        raise UsageError("no chartship.yaml: decisions are recorded in a file beside it")
    return settings.source.parent / DECISIONS_FILE


def _order(key: tuple[str, str]) -> tuple[str, int, Any, str]:
    chart, version = key
    try:
        return (chart, 0, versions.parse(version), version)
    except ChartshipError:
        return (chart, 1, version, version)


def _decision(path: Path, chart: str, version: str, raw: object, line: int | None) -> Decision:
    key = f"decisions.{chart}.{version}"

    def fail(problem: str) -> ConfigError:
        return ConfigError(problem, path=path, key=key, line=line)

    if not isinstance(raw, dict):
        raise fail("must be a mapping with as, anomalies and reason")
    unknown = sorted(set(map(str, raw)) - {"as", "sha256", "anomalies", "reason"})
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}")
    action = raw.get("as")
    if action not in ACTIONS:
        raise fail(f"as must be one of {', '.join(ACTIONS)}, not {action!r}")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise fail("needs a reason (non-empty text)")
    kinds = raw.get("anomalies")
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise fail("anomalies must be a non-empty list of anomaly kinds")
    sha = raw.get("sha256")
    if action == "asset" and not (isinstance(sha, str) and _SHA256.match(sha)):
        raise fail("as: asset needs sha256, the asset's 64 hex digits")
    if action == "skip" and sha is not None:
        raise fail("as: skip takes no sha256")
    return Decision(
        chart, version, cast(Action, action), reason.strip(), tuple(kinds),
        sha if isinstance(sha, str) else None,
    )  # fmt: skip


def load_decisions(settings: Settings) -> dict[tuple[str, str], Decision]:
    """The recorded decisions by (chart, version); none when the file does not exist."""
    if settings.source is None:
        return {}
    path = decisions_path(settings)
    if not path.is_file():
        return {}
    try:
        doc = load_yaml(path, CONFIG)
    except ChartshipError as exc:
        raise ConfigError(exc.message, path=path, line=exc.line) from None
    data = doc.data
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"decisions"}:
        raise ConfigError("must be a mapping with the one key decisions", path=path, line=1)
    charts = data.get("decisions") or {}
    if not isinstance(charts, dict):
        raise ConfigError("must map chart names to versions", path=path, key="decisions")
    found: dict[tuple[str, str], Decision] = {}
    for chart, by_version in charts.items():
        if not isinstance(by_version, dict):
            raise ConfigError(
                "must map versions to decisions", path=path, key=f"decisions.{chart}",
                line=doc.line("decisions", str(chart)),
            )  # fmt: skip
        for version, raw in by_version.items():
            at = doc.line("decisions", str(chart), str(version))
            one = _decision(path, str(chart), str(version), raw, at)
            found[one.key] = one
    return found


def render(decisions: dict[tuple[str, str], Decision]) -> str:
    charts: dict[str, dict[str, Any]] = {}
    for key in sorted(decisions, key=_order):
        one = decisions[key]
        charts.setdefault(one.chart, {})[one.version] = one.as_yaml()
    body = yaml.safe_dump(
        {"decisions": charts}, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    return _HEADER + body


def record(settings: Settings, decision: Decision, *, dry_run: bool = False) -> Path:
    """Add or replace ``decision`` in the file; the file's path."""
    path = decisions_path(settings)
    decisions = load_decisions(settings)
    decisions[decision.key] = decision
    if not dry_run:
        path.write_text(render(decisions), encoding="utf-8")
    return path

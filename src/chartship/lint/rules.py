"""The named lint rules: which are helm's, which chartship adds, and why.

Helm's own rules (and the checks that keep helm from reading outside the
chart) are always errors: a chart that breaks them does not install, or must
not be handed to helm. Every rule chartship adds beyond helm carries a reason
(README's rule table is rendered from :data:`RULES`) and a default severity a
repository may change, for all charts (``lint.rules``) or for one
(``charts.<name>.lint_rules``): ``error``, ``warning`` or ``off``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
Setting = Literal["error", "warning", "off"]


@dataclass(frozen=True)
class Rule:
    name: str
    default: Setting
    reason: str
    #: False for helm's own rules and the safety checks: their severity is fixed.
    configurable: bool = True


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "chart-yaml",
            "error",
            "Chart.yaml as helm reads it: apiVersion v1 or v2, name, version, type, dependencies.",
            configurable=False,
        ),
        Rule("values", "error", "values files helm cannot parse.", configurable=False),
        Rule(
            "schema",
            "error",
            "values (merged as helm merges them) against values.schema.json, as helm checks them.",
            configurable=False,
        ),
        Rule(
            "helm-lint",
            "error",
            "what `helm lint --strict` reports with a ci values file, "
            "or with default values when the chart has none.",
            configurable=False,
        ),
        Rule(
            "dependencies",
            "error",
            "dependencies helm cannot put together offline or "
            "reproducibly; helm lint cannot run without them.",
            configurable=False,
        ),
        Rule(
            "files",
            "error",
            "files that lead out of the chart (links, `file://`): helm "
            "would read or package what lies outside.",
            configurable=False,
        ),
        Rule(
            "schema-ref",
            "error",
            "schema references to servers or files: helm would fetch "
            "them while linting and installing.",
            configurable=False,
        ),
        Rule(
            "api-version-v1",
            "off",
            "apiVersion v1 is helm 2's format; helm 3 and 4 accept "
            "it, but v2 is where dependencies and type live.",
        ),
        Rule(
            "kube-version",
            "error",
            "kubeVersion must parse with helm's constraint grammar: "
            "helm lint does not check it, but helm install refuses the chart.",
        ),
        Rule(
            "strict-semver",
            "error",
            "version must be strict SemVer 2: OCI tags, index entries "
            "and git tags are derived from it (helm also accepts `1.2` or `v1.2.3`).",
        ),
        Rule(
            "chart-name-directory",
            "error",
            "the chart's name equals its directory's: "
            "chartship finds charts, tags and archives by that name.",
        ),
        Rule(
            "oci-name",
            "error",
            "with an OCI channel, the chart's name is one a registry takes as a repository "
            "name (lowercase): helm allows capitals, but `helm push` and chartship cannot push it.",
        ),
        Rule(
            "app-version",
            "error",
            "appVersion is set: release notes and bump's app_version policy read it.",
        ),
        Rule(
            "default-values",
            "error",
            "helm lint with default values fails though every ci "
            "values file passes: chart-testing lints only the ci files, but a plain "
            "`helm install` uses the defaults.",
        ),
        Rule(
            "version-increment",
            "error",
            "a chart whose packaged files changed since its "
            "release tag (or since `--since REF`) has a higher version.",
        ),
        Rule(
            "lockstep", "error", "lockstep subcharts carry the parent's version (lockstep setting)."
        ),
        Rule(
            "siblings",
            "error",
            "a chart depending on a sibling chart of this repository agrees with it.",
        ),
        Rule(
            "maintainers",
            "off",
            "every maintainer has a name (chart-testing's "
            "validate-maintainers; GitHub accounts are not looked up).",
        ),
    )
}


def severity(
    rule: str,
    repository: Mapping[str, Setting],
    chart: Mapping[str, Setting],
) -> Setting:
    """The severity of ``rule`` for one chart: its own setting, the repository's, the default."""
    known = RULES.get(rule)
    if known is None or not known.configurable:
        return known.default if known is not None else "error"
    return chart.get(rule) or repository.get(rule) or known.default


def setting_problem(rule: str) -> str | None:
    """Why ``rule`` cannot be given a severity, or None when it can."""
    known = RULES.get(rule)
    if known is None:
        choices = ", ".join(name for name, r in RULES.items() if r.configurable)
        return f"is not a lint rule (rules with a severity to set: {choices})"
    if not known.configurable:
        return "is helm's own rule (or keeps helm inside the chart); its severity is fixed"
    return None

"""What an OCI registry takes as a repository name.

A chart's repository is ``namespace/<chart name>``, and helm allows chart
names no registry takes (capitals above all): ``helm push`` then fails on
that chart alone, after other charts and channels were published. The
grammar is the OCI distribution spec's ("Pulling manifests"), so a bad
namespace is refused when chartship.yaml is read, and a bad chart name by
lint and before any release reads the registry.
"""

from __future__ import annotations

import re

from chartship.safetext import shown

#: One path component: lowercase letters and digits, joined by '.', '_', '__' or runs of '-'.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
#: The spec lets registries refuse longer names; docker's reference grammar stops at 255.
MAX_NAME = 255


def split(url: str) -> tuple[str, str]:
    """``oci://host[:port]/namespace`` as (host, namespace); only trailing slashes are
    insignificant, so ``oci:///charts`` names no host."""
    host, _, namespace = url.removeprefix("oci://").rstrip("/").partition("/")
    return host, namespace


def component_problem(component: str) -> str | None:
    """Why ``component`` cannot be one path component of a repository name, or None."""
    if _COMPONENT.fullmatch(component):
        return None
    return (
        f"{shown(component)} is not a repository name the OCI distribution spec allows: "
        "lowercase letters and digits, joined by '.', '_', '__' or '-'"
    )


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` (``a/b``, or empty) cannot lead a chart's repository name, or None."""
    if len(namespace) > MAX_NAME:
        return f"the namespace is {len(namespace)} characters; registries take at most {MAX_NAME}"
    for part in namespace.split("/") if namespace else ():
        problem = component_problem(part)
        if problem is not None:
            return f"its path {problem}"
    return None


def chart_problem(chart: str, namespace: str) -> str | None:
    """Why chart ``chart`` cannot have a repository under ``namespace``, or None."""
    problem = component_problem(chart)
    if problem is None and len(namespace) + 1 + len(chart) > MAX_NAME:
        problem = f"{namespace}/{chart} is longer than the {MAX_NAME} characters registries take"
    return problem

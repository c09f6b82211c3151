"""Narrowing the helm matrix for tests whose subject does not depend on the helm major."""

from __future__ import annotations

import pytest

from chartship.toolchain import DEFAULT_HELM_VERSIONS

#: The ``helm_version`` fixture narrowed to the newest major: for what helm does
#: not take part in (GitHub's side of a release, say), one major is enough.
newest_helm = pytest.mark.parametrize(
    "helm_version", [DEFAULT_HELM_VERSIONS[-1]], ids=["helm4"], indirect=True
)

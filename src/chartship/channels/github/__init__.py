"""The GitHub releases channel: one release per chart version, the archive as its asset.

What a release needs to know of the channel before it talks to GitHub lives
here, so that a run without it never imports PyGithub (and requests), a large
part of start-up: the channel's name and title and the token's variables.

It also defers PyJWT (see :mod:`chartship.deferred`): PyGithub imports it for
GitHub App authentication only, and this package is imported before any
module of it that imports PyGithub.
"""

from __future__ import annotations

from collections.abc import Mapping

from chartship import deferred

deferred.defer("jwt")

NAME = "github"
TITLE = "GitHub release"
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")


def token_from(environ: Mapping[str, str]) -> str | None:
    for name in TOKEN_VARIABLES:
        if environ.get(name):
            return environ[name]
    return None

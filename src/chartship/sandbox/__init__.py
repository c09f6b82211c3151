"""Local stand-ins for the services a release talks to, on 127.0.0.1.

They let a maintainer rehearse a release or a migration of their own repository
with nothing public touched, and they are what chartship's own tests run
against: the GitHub REST API stand-in checks every request and response against
GitHub's published description of the API (vendored under ``data/github-api``),
and the pages site serves a branch of a git repository as GitHub Pages would.
"""

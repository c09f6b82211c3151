"""How the stand-in's state looks on the wire: the JSON GitHub sends for a user,
a repository, a release and a release asset, every URL in it built on the API
URL clients use (the proxy's, once advertised).

``browser_download_url`` is ``{api_url}/download/{owner}/{repo}/{tag}/{name}``
(``untagged-...`` instead of the tag for drafts); drafts have no
``published_at``, ``tarball_url`` or ``zipball_url``.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timezone

from chartship.sandbox.github_standin.exchange import Json
from chartship.sandbox.github_standin.state import Asset, PullRequest, Release, Repo, State, User


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_" + base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def quote_segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Representations:
    """The JSON of ``state``'s objects, URLs on ``api_url()``."""

    def __init__(self, state: State, api_url: Callable[[], str]) -> None:
        self.state = state
        self._api_url = api_url

    @property
    def api_url(self) -> str:
        return self._api_url()

    def web(self, *parts: str) -> str:
        return "/".join([self.api_url, *parts])

    def user_json(self, user: User) -> dict[str, Json]:
        url = f"{self.api_url}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": _node_id("U", user.id),
            "avatar_url": f"{self.api_url}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": self.web(user.login),
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def repo_json(self, repo: Repo) -> dict[str, Json]:
        base = f"{self.api_url}/repos/{repo.full_name}"
        created = _stamp(repo.created_at)
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        host = urllib.parse.urlsplit(self.api_url).netloc
        return {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": False,
            "owner": self.user_json(repo.owner),
            "html_url": self.web(repo.full_name),
            "description": None,
            "fork": False,
            "url": base,
            **{key: base + suffix for key, suffix in templated.items()},
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": self.web(f"{repo.full_name}.git"),
            "svn_url": self.web(repo.full_name),
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "size": 0,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "network_count": 0,
            "subscribers_count": 0,
            "default_branch": repo.default_branch,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "public",
            "license": None,
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "permissions": {
                "admin": True,
                "maintain": True,
                "push": True,
                "triage": True,
                "pull": True,
            },
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
        }

    def asset_json(self, asset: Asset) -> dict[str, Json]:
        release = self.state.release_by_id(asset.release_id)
        repo = self.state.repo_of(release)
        return {
            "url": f"{self.api_url}/repos/{repo.full_name}/releases/assets/{asset.id}",
            "id": asset.id,
            "node_id": _node_id("RA", asset.id),
            "name": asset.name,
            "label": asset.label,
            "uploader": self.user_json(asset.uploader),
            "content_type": asset.content_type,
            "state": asset.state,
            "size": asset.size,
            "digest": asset.digest,
            "download_count": asset.download_count,
            "created_at": _stamp(asset.created_at),
            "updated_at": _stamp(asset.updated_at),
            "browser_download_url": (
                f"{self.api_url}/download/{repo.full_name}/"
                f"{quote_segment(release.download_segment)}/{quote_segment(asset.name)}"
            ),
        }

    def release_json(self, release: Release) -> dict[str, Json]:
        repo = self.state.repo_of(release)
        base = f"{self.api_url}/repos/{repo.full_name}"
        tag = urllib.parse.quote(release.tag_name, safe="")
        published = not release.draft
        return {
            "url": f"{base}/releases/{release.id}",
            "assets_url": f"{base}/releases/{release.id}/assets",
            "upload_url": f"{base}/releases/{release.id}/assets{{?name,label}}",
            "html_url": self.web(
                repo.full_name, "releases", "tag", quote_segment(release.download_segment)
            ),
            "id": release.id,
            "author": self.user_json(release.author),
            "node_id": _node_id("RE", release.id),
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "draft": release.draft,
            "immutable": release.immutable,
            "prerelease": release.prerelease,
            "created_at": _stamp(release.created_at),
            "updated_at": _stamp(release.updated_at),
            "published_at": _stamp(release.published_at) if release.published_at else None,
            "assets": [self.asset_json(asset) for asset in release.assets],
            "tarball_url": f"{base}/tarball/{tag}" if published else None,
            "zipball_url": f"{base}/zipball/{tag}" if published else None,
            "body": release.body,
        }

    def _branch_json(self, repo: Repo, branch: str, sha: str) -> dict[str, Json]:
        return {
            "label": f"{repo.owner.login}:{branch}",
            "ref": branch,
            "repo": self.repo_json(repo),
            "sha": sha,
            "user": self.user_json(repo.owner),
        }

    def pull_json(self, repo: Repo, pull: PullRequest, *, full: bool) -> dict[str, Json]:
        """A pull request as listed (``full=False``: pull-request-simple) or created."""
        api = f"{self.api_url}/repos/{repo.full_name}"
        url = f"{api}/pulls/{pull.number}"
        html = self.web(repo.full_name, "pull", str(pull.number))
        statuses = f"{api}/statuses/{pull.head_sha}"
        created = _stamp(pull.created_at)
        links = {
            "comments": f"{api}/issues/{pull.number}/comments",
            "commits": f"{url}/commits",
            "statuses": statuses,
            "html": html,
            "issue": f"{api}/issues/{pull.number}",
            "review_comments": f"{url}/comments",
            "review_comment": f"{api}/pulls/comments{{/number}}",
            "self": url,
        }
        found: dict[str, Json] = {
            "url": url,
            "id": pull.id,
            "node_id": _node_id("PR", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": statuses,
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user_json(pull.user),
            "body": pull.body,
            "labels": [],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": created,
            "updated_at": created,
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._branch_json(repo, pull.head, pull.head_sha),
            "base": self._branch_json(repo, pull.base, pull.base_sha),
            "_links": {name: {"href": href} for name, href in links.items()},
            "author_association": "OWNER",
            "auto_merge": None,
            "draft": pull.draft,
        }
        if full:
            # What GitHub computes in the background; a fresh pull request has not yet.
            found.update(
                merged=False,
                mergeable=None,
                rebaseable=None,
                mergeable_state="unknown",
                merged_by=None,
                comments=0,
                review_comments=0,
                maintainer_can_modify=False,
                commits=1,
                additions=0,
                deletions=0,
                changed_files=1,
            )
        return found

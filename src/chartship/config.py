"""chartship.yaml: one settings model for every front end.

The file is validated strictly (unknown keys, wrong types and missing
required values are errors naming the file, the dotted key and the line),
then overrides from invoke configuration, task flags or ``--set`` on the
command line are applied by dotted key before the same validation runs.

The dataclasses below are the single source of truth: ``describe_settings``
renders them as the defaults table in README.md.
"""

from __future__ import annotations

import dataclasses
import datetime
import string
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

import yaml

from chartship.channels.oci import names as oci_names
from chartship.errors import ChartError, ConfigError, VersionError
from chartship.gitrepo import ref_name_problem
from chartship.safetext import redact_url, shown, userinfo
from chartship.yamlfiles import CONFIG, YamlDocument, load_data, load_yaml

DEFAULT_CONFIG_NAME = "chartship.yaml"

Phase = Literal["classic", "dual", "oci-primary", "oci-only"]
AppVersionPolicy = Literal["auto", "follow", "keep"]
#: A lint rule's severity as a repository sets it (chartship.lint.rules lists the rules).
RuleSetting = Literal["error", "warning", "off"]
Engine = Literal["native", "helm"]


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class ChartSettings:
    app_version_prefix: str = field(
        default="", metadata=_doc("Prefix of appVersion when a version is stamped (MetalLB: `v`).")
    )
    app_version: AppVersionPolicy = field(
        default="auto",
        metadata=_doc(
            "What bump does to appVersion: `follow` sets it to app_version_prefix + the new "
            "version, `keep` never touches it, `auto` follows only while appVersion is "
            "app_version_prefix + version (an app versioned apart is kept). `--app-version` "
            "sets it regardless."
        ),
    )
    lockstep: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Local subcharts (directories in the chart's charts/) whose version, and the "
            "parent's dependency entry for them, always equal the parent's version."
        ),
    )
    path: str | None = field(
        default=None,
        metadata=_doc(
            "Chart directory, relative to the repository; default `<charts_dir>/<name>`."
        ),
    )
    lint_rules: dict[str, RuleSetting] = field(
        default_factory=dict,
        metadata={
            **_doc(
                "Lint rule -> `error`, `warning` or `off` for this chart; wins over lint.rules."
            ),
            "item": "<rule>",
        },
    )


@dataclass(frozen=True)
class ReleaseSettings:
    tag: str = field(
        default="{name}-{version}",
        metadata=_doc(
            "Git tag (and GitHub release name) of one chart release; `{name}` and `{version}` "
            "are replaced. Lint and bump read released versions from these tags."
        ),
    )


@dataclass(frozen=True)
class LintSettings:
    workers: int = field(
        default=4,
        metadata=_doc("helm lint runs at once, over every (chart, values file) of the repository."),
    )
    version_increment: bool = field(
        default=True,
        metadata=_doc(
            "A chart changed since its last release tag (or since lint.since) must carry a "
            "higher version."
        ),
    )
    since: str | None = field(
        default=None,
        metadata=_doc(
            "Branch or commit version-increment compares against instead of release tags, as "
            "a pull-request check does (`--since REF` sets it); the merge base with HEAD is used."
        ),
    )
    use_helmignore: bool = field(
        default=True,
        metadata=_doc(
            "version-increment counts only files the chart's .helmignore keeps, the files "
            "`helm package` would put in the archive."
        ),
    )
    rules: dict[str, RuleSetting] = field(
        default_factory=dict,
        metadata={
            **_doc("Lint rule -> `error`, `warning` or `off` for every chart (rule table below)."),
            "item": "<rule>",
        },
    )
    exclude: tuple[str, ...] = field(
        default=(), metadata=_doc("Charts lint leaves out (chart-testing's excluded-charts).")
    )
    strict: bool = field(
        default=False, metadata=_doc("Warnings fail lint too (`--strict` sets it).")
    )
    ct_config: str | None = field(
        default=None,
        metadata=_doc(
            "chart-testing config read for what chartship.yaml leaves unset; default: the first "
            "of ct.yaml, ct.yml, .github/ct.yaml, .github/linters/ct.yaml that exists."
        ),
    )
    repository_timeout: float = field(
        default=10.0, metadata=_doc("Seconds to wait for a dependency repository's index.yaml.")
    )


@dataclass(frozen=True)
class PackageSettings:
    sign_key_env: str = field(
        default="CHARTSHIP_SIGN_KEY",
        metadata=_doc("Environment variable naming the GPG key (name or email) for `--sign`."),
    )
    keyring_env: str = field(
        default="CHARTSHIP_SIGN_KEYRING",
        metadata=_doc("Environment variable holding the path of the secret keyring for `--sign`."),
    )
    passphrase_env: str = field(
        default="CHARTSHIP_SIGN_PASSPHRASE",
        metadata=_doc("Environment variable holding the key's passphrase, if it has one."),
    )


@dataclass(frozen=True)
class MirrorSettings:
    #: A mirror given as a plain string is its ``url``.
    SHORTHAND: ClassVar[str] = "url"

    url: str = field(
        metadata=_doc(
            "Where the repository's charts are fetched from instead: `http(s)://` (a chart "
            "repository with index.yaml) or `oci://host/namespace`."
        )
    )
    username_env: str | None = field(
        default=None, metadata=_doc("Environment variable holding the mirror's user.")
    )
    password_env: str | None = field(
        default=None,
        metadata=_doc("Environment variable holding the mirror's password or token."),
    )
    ca_file: str | None = field(
        default=None, metadata=_doc("CA bundle that signs the mirror's certificate.")
    )
    plain_http: bool = field(
        default=False,
        metadata=_doc("An `oci://` mirror talks plain HTTP (loopback only; helm 3.13 or later)."),
    )


#: How Chart.yaml names a repository by the name it was added under (helm's resolveRepoNames).
ALIAS_PREFIXES = ("@", "alias:")
REPOSITORY_SCHEMES = ("http://", "https://", "oci://")


def alias_name(repository: str) -> str | None:
    """The repository name in ``@name`` or ``alias:name``; None for a URL or a path."""
    for prefix in ALIAS_PREFIXES:
        if repository.startswith(prefix):
            return repository[len(prefix) :]
    return None


def repository_name_problem(name: str) -> str | None:
    """Why helm would not take ``name`` in `helm repo add`, or None."""
    if not name:
        return "repository name is empty"
    if "/" in name:
        # helm repo add: "repository name (...) contains '/'".
        return f"repository name {shown(name)} contains '/', which helm does not allow"
    return None


def repository_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a dependency repository's URL, or None. Credentials are
    refused with the URL masked: the message is printed and logged."""
    if not url.startswith(REPOSITORY_SCHEMES):
        return f"must be an http://, https:// or oci:// URL, not {shown(redact_url(url))}"
    return credentials_problem(
        url, "give the repository a dependencies.mirrors entry with username_env and password_env"
    )


def credentials_problem(url: str, instead: str) -> str | None:
    """The refusal of a URL with a user or password in it (masked), or None."""
    if userinfo(url) is None:
        return None
    return (
        f"carries credentials ({shown(redact_url(url))}); they never go in a URL, where "
        f"logs, messages and DNS would see them: {instead}"
    )


@dataclass(frozen=True)
class DependencySettings:
    offline: bool = field(
        default=False,
        metadata=_doc(
            "Never contact a dependency repository (or mirror): only vendored archives in a "
            "chart's charts/ and `file://` charts are used (`--offline` sets it)."
        ),
    )
    mirrors: dict[str, MirrorSettings] = field(
        default_factory=dict,
        metadata={
            **_doc(
                "Repository URL (as Chart.yaml names it) -> mirror every fetch of its charts "
                "goes to; a string is the mirror's URL. Chart.yaml and Chart.lock keep the "
                "original URL."
            ),
            "item": "<repository>",
        },
    )
    repositories: dict[str, str] = field(
        default_factory=dict,
        metadata={
            **_doc(
                "Repository name -> URL (`http(s)://` or `oci://`) that a Chart.yaml "
                "dependency naming its repository by alias (`@name`, `alias:name`) comes from, "
                "as `helm repo add name url` would make it; ct.yaml's `chart-repos` fills it "
                "when unset. Chart.lock records the URL, as helm writes it."
            ),
            "item": "<name>",
        },
    )
    repository_config: Literal["chartship", "helm"] = field(
        default="chartship",
        metadata=_doc(
            "`chartship`: a throwaway helm repository config holding only the repositories "
            "needed; `helm`: a scratch copy of your own (`HELM_REPOSITORY_CONFIG`, with its "
            "credentials and TLS files), never written to."
        ),
    )

    def url_for(self, repository: str) -> str | None:
        """The URL ``repository`` stands for: an alias's configured URL (None when it has
        none), any other repository as it is."""
        name = alias_name(repository)
        return repository if name is None else self.repositories.get(name)

    def mirror_for(self, repository: str) -> MirrorSettings | None:
        """The mirror configured for ``repository``; a trailing slash does not matter."""
        wanted = repository.rstrip("/")
        for url, mirror in self.mirrors.items():
            if url.rstrip("/") == wanted:
                return mirror
        return None


@dataclass(frozen=True)
class GithubSettings:
    repository: str = field(
        metadata=_doc("`owner/name` of the repository that holds the releases.")
    )
    api_url: str = field(
        default="https://api.github.com",
        metadata=_doc("REST API base URL (GitHub Enterprise: `https://HOST/api/v3`)."),
    )
    make_latest: bool = field(
        default=False, metadata=_doc("Let chart releases take the repository's Latest marker.")
    )
    target: str | None = field(
        default=None,
        metadata=_doc("Commit or branch a new release tag points at; default: the current commit."),
    )
    timeout: float = field(default=30.0, metadata=_doc("Seconds one API request may take."))
    max_wait: float = field(
        default=60.0,
        metadata=_doc(
            "Most seconds to wait for a rate limit (Retry-After, x-ratelimit-reset) before "
            "failing instead."
        ),
    )
    throttle: bool = field(
        default=True,
        metadata=_doc(
            "Space requests as GitHub asks of integrations (0.25 s apart, writes 1 s apart)."
        ),
    )


@dataclass(frozen=True)
class PagesSettings:
    index_url: str = field(metadata=_doc("URL where the pages branch's index.yaml is served."))
    branch: str = field(default="gh-pages", metadata=_doc("Branch that holds index.yaml."))
    remote: str = field(
        default="origin", metadata=_doc("Git remote the pages branch is pushed to.")
    )
    token_env: str | None = field(
        default=None,
        metadata=_doc(
            "Environment variable holding a token for an https remote (GitHub: "
            "`GITHUB_TOKEN`); git gets it as an HTTP header in its environment, never in "
            "the remote's URL or on a command line."
        ),
    )
    packages: Literal["releases", "pages"] = field(
        default="releases",
        metadata=_doc(
            "Where index entries point: GitHub release assets, or archives on the pages site."
        ),
    )
    sunset: str | None = field(
        default=None,
        metadata=_doc(
            "Date (`YYYY-MM-DD`) after which this channel receives no new versions: "
            "the deprecation notice of `migrate deprecate` gives it, and deprecate needs it."
        ),
    )
    retry_seconds: float = field(
        default=10.0,
        metadata=_doc(
            "Seconds one read of the pages site (index.yaml, an archive) may spend waiting "
            "between retries of transient errors; a site that is down fails within it."
        ),
    )


@dataclass(frozen=True)
class OciSettings:
    repository: str = field(
        metadata=_doc(
            "`oci://host/namespace`; a chart goes to `namespace/<name>:<version>`. The namespace "
            "and chart names are lowercase, as the OCI distribution spec names repositories."
        )
    )
    username_env: str = field(
        default="CHARTSHIP_OCI_USERNAME",
        metadata=_doc("Environment variable holding the registry user."),
    )
    password_env: str = field(
        default="CHARTSHIP_OCI_PASSWORD",
        metadata=_doc("Environment variable holding the registry password or token."),
    )
    plain_http: bool = field(
        default=False, metadata=_doc("Talk plain HTTP (loopback registries only).")
    )
    ca_file: str | None = field(
        default=None, metadata=_doc("CA bundle that signs the registry's certificate.")
    )
    cert_file: str | None = field(default=None, metadata=_doc("Client certificate for mutual TLS."))
    key_file: str | None = field(default=None, metadata=_doc("Client key for mutual TLS."))
    insecure_skip_tls_verify: bool = field(
        default=False, metadata=_doc("Skip certificate verification (never for production).")
    )
    workers: int = field(
        default=4,
        metadata=_doc("Archives pushed, or repositories listed by a release, at once."),
    )
    timeout: float = field(default=30.0, metadata=_doc("Seconds one registry request may take."))
    retry_seconds: float = field(
        default=10.0,
        metadata=_doc(
            "Seconds one registry request may spend waiting between retries of transient "
            "errors (5xx, 429, connection reset); a registry that is down fails within it."
        ),
    )
    tag_window: float = field(
        default=5.0,
        metadata=_doc(
            "Seconds from the last look at a tag to its write (the manifest upload, or "
            "`helm push`, stopped past it and tried again); each tag is read again this long "
            "after the run's last write, and another writer's bytes found there refuse the "
            "version (see push)."
        ),
    )
    engine: Engine = field(
        default="native",
        metadata=_doc(
            "What writes each tag: `native` uploads the blobs and the manifest `helm push` "
            "would write, byte for byte, with chartship's own requests (an archive whose "
            "manifest it cannot reproduce goes to `helm push`, which the outcome says); "
            "`helm` runs `helm push` for every archive."
        ),
    )
    public: bool | None = field(
        default=None,
        metadata=_doc(
            "Whether the charts must be readable without credentials: unset, a chart "
            "repository anonymous clients cannot read after a push is a warning; `true` makes "
            "it a failure (checked on every run); `false` (private on purpose) skips the check."
        ),
    )


@dataclass(frozen=True)
class ChannelSettings:
    phase: Phase = field(
        default="classic",
        metadata=_doc("Migration phase: `classic`, `dual`, `oci-primary` or `oci-only`."),
    )
    github: GithubSettings | None = field(default=None, metadata=_doc("GitHub Releases channel."))
    pages: PagesSettings | None = field(
        default=None, metadata=_doc("index.yaml on a pages branch.")
    )
    oci: OciSettings | None = field(default=None, metadata=_doc("OCI registry channel."))


@dataclass(frozen=True)
class Settings:
    charts_dir: str = field(
        default="charts", metadata=_doc("Directory whose subdirectories are charts.")
    )
    dist_dir: str = field(
        default="dist", metadata=_doc("Where packaged archives and SHA256SUMS go.")
    )
    helm: str = field(default="helm", metadata=_doc("helm binary: a path or a name on PATH."))
    charts: dict[str, ChartSettings] = field(
        default_factory=dict,
        metadata=_doc(
            "Per-chart settings by chart name; a chart found in charts_dir needs no entry."
        ),
    )
    release: ReleaseSettings = field(default_factory=ReleaseSettings, metadata=_doc(""))
    lint: LintSettings = field(default_factory=LintSettings, metadata=_doc(""))
    package: PackageSettings = field(default_factory=PackageSettings, metadata=_doc(""))
    dependencies: DependencySettings = field(default_factory=DependencySettings, metadata=_doc(""))
    channels: ChannelSettings = field(default_factory=ChannelSettings, metadata=_doc(""))

    #: Directory the relative paths above are resolved against (not a file key).
    root: Path = field(default=Path("."), metadata={"internal": True}, compare=False)
    #: Where the settings came from, for messages (not a file key).
    source: Path | None = field(default=None, metadata={"internal": True}, compare=False)

    def resolve(self, relative: str) -> Path:
        return (self.root / relative).resolve()

    @property
    def charts_path(self) -> Path:
        return self.resolve(self.charts_dir)

    @property
    def dist_path(self) -> Path:
        return self.resolve(self.dist_dir)

    @property
    def helm_binary(self) -> str:
        """A bare name is looked up on PATH; anything with a slash is a path from root."""
        return str(self.resolve(self.helm)) if "/" in self.helm else self.helm

    def chart(self, name: str) -> ChartSettings:
        return self.charts.get(name, ChartSettings())

    def release_tag(self, name: str, version: str) -> str:
        """The git tag of ``name`` ``version``; refused unless git can hold it."""
        # Safe to format: a template names only these two fields (template_problem).
        tag = self.release.tag.format(name=name, version=version)
        problem = ref_name_problem(tag)
        if problem is not None:
            raise VersionError(
                f"release tag {shown(tag)} of {name} {shown(version)} is not a valid git "
                f"tag name: {problem}"
            )
        return tag


# --------------------------------------------------------------------------- validation


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin in (dict, Mapping):
        return "a mapping"
    if origin in (tuple, list):
        item = get_args(tp)[0]
        return "a list of strings" if item is str else f"a list of {_type_name(item)}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


class _Validator:
    def __init__(
        self,
        doc: YamlDocument | None,
        source: Path | None,
        overridden: frozenset[str] = frozenset(),
    ):
        self.doc = doc
        self.source = source
        self.overridden = overridden

    def fail(self, keys: tuple[str | int, ...], message: str) -> ConfigError:
        dotted = ".".join(str(k) for k in keys) or None
        if dotted is not None and any(
            dotted == key or dotted.startswith(key + ".") for key in self.overridden
        ):
            # Blaming the file (or a line of it) would send the reader to the wrong place.
            return ConfigError(f"{message} (set by an override)", key=dotted)
        line = self.doc.line(*keys) if self.doc is not None else None
        return ConfigError(message, path=self.source, key=dotted, line=line)

    def convert(self, value: Any, tp: Any, keys: tuple[str | int, ...]) -> Any:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if value is None and len(options) < len(get_args(tp)):
                return None
            if len(options) == 1:
                return self.convert(value, options[0], keys)
            raise AssertionError(f"unsupported union {tp}")
        if value is None:
            raise self.fail(keys, f"must be {_type_name(tp)}, not empty")
        if origin is Literal:
            if value not in get_args(tp):
                raise self.fail(keys, f"must be {_type_name(tp)}, not {shown(value)}")
            return value
        if origin is dict:
            if not isinstance(value, dict):
                raise self.fail(keys, f"must be a mapping, not {type(value).__name__}")
            _, item_type = get_args(tp)
            return {str(k): self.convert(v, item_type, (*keys, str(k))) for k, v in value.items()}
        if origin is tuple:
            if not isinstance(value, list):
                raise self.fail(keys, f"must be {_type_name(tp)}")
            item_type = get_args(tp)[0]
            return tuple(self.convert(v, item_type, (*keys, i)) for i, v in enumerate(value))
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            shorthand = getattr(tp, "SHORTHAND", None)
            if shorthand is not None and isinstance(value, str):
                value = {shorthand: value}
            return self.build(tp, value, keys)
        if tp is bool:
            if not isinstance(value, bool):
                raise self.fail(keys, f"must be true or false, not {shown(value)}")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(keys, f"must be an integer, not {shown(value)}")
            if value < 1:
                raise self.fail(keys, f"must be at least 1, not {value}")
            return value
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(keys, f"must be a number, not {shown(value)}")
            if value <= 0:
                raise self.fail(keys, f"must be positive, not {value}")
            return float(value)
        if tp is str:
            if type(value) is datetime.date:
                # YAML reads an unquoted 2027-06-30 as a date: the text written is the value.
                return value.isoformat()
            if not isinstance(value, str):
                raise self.fail(keys, f"must be a string, not {shown(value)}")
            return value
        raise AssertionError(f"unsupported settings type {tp}")

    def build(self, cls: type[Any], raw: Any, keys: tuple[str | int, ...]) -> Any:
        if not isinstance(raw, dict):
            raise self.fail(keys, f"must be a mapping, not {type(raw).__name__}")
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
        for key in raw:
            if key not in known:
                choices = ", ".join(sorted(known))
                raise self.fail((*keys, str(key)), f"unknown key (known here: {choices})")
        values: dict[str, Any] = {}
        for name, fld in known.items():
            if name in raw:
                values[name] = self.convert(raw[name], hints[name], (*keys, name))
            elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                raise self.fail((*keys, name), "is required")
        return cls(**values)


#: The fields a ``release.tag`` template may name; nothing else is ever substituted.
TEMPLATE_FIELDS = ("name", "version")
#: What each URL setting's credentials go in instead, for the refusal's message.
_CREDENTIALS_INSTEAD = {
    ("channels", "oci", "repository"): (
        "put the user and password in the environment variables named by "
        "channels.oci.username_env and channels.oci.password_env"
    ),
    ("channels", "github", "api_url"): "the token comes from GITHUB_TOKEN or GH_TOKEN",
    ("channels", "pages", "index_url"): (
        "index.yaml is read as helm users read it, without credentials"
    ),
}


def template_problem(template: str) -> str | None:
    """Why ``template`` is not a release tag template, or None.

    A template is data: literal text and the fields of :data:`TEMPLATE_FIELDS`
    as ``{name}`` and ``{version}``, nothing more. Attribute access
    (``{name.__class__}``), indexing (``{version[0]}``), conversions (``!r``) and
    format specs (``{version:>20}``) would let a configuration compute a tag.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"unbalanced braces ({exc})"
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS or spec or conversion:
            whole = "{" + field_name + (f"!{conversion}" if conversion else "")
            whole += (f":{spec}" if spec else "") + "}"
            return f"{shown(whole)} is not a field; a template names only " + " and ".join(
                "{" + f + "}" for f in TEMPLATE_FIELDS
            )
    return None


def _check_tag_template(settings: Settings, v: _Validator) -> None:
    template = settings.release.tag
    problem = template_problem(template)
    if problem is not None:
        raise v.fail(("release", "tag"), f"bad template {shown(template)}: {problem}")
    if "{version}" not in template:
        raise v.fail(("release", "tag"), "must contain {version}")
    # Names and versions are held to helm's and SemVer's alphabets, which git
    # takes in a tag; what could still break a tag is the template's own text.
    for version in ("1.2.3", "1.2.3-rc.1+build.5"):
        tag = template.format(name="chart", version=version)
        problem = ref_name_problem(tag)
        if problem is not None:
            raise v.fail(
                ("release", "tag"),
                f"template {shown(template)} gives {shown(tag)}, which is not a valid git "
                f"tag name: {problem}",
            )


def _check_no_credentials(url: str | None, keys: tuple[str, str, str], v: _Validator) -> None:
    problem = None if url is None else credentials_problem(url, _CREDENTIALS_INSTEAD[keys])
    if problem is not None:
        raise v.fail(keys, problem)


def _check_lint(settings: Settings, v: _Validator) -> None:
    # Imported here: the lint package imports this module.
    from chartship.lint.rules import setting_problem

    tables: list[tuple[tuple[str, ...], Mapping[str, RuleSetting]]] = [
        (("lint", "rules"), settings.lint.rules)
    ]
    tables += [(("charts", n, "lint_rules"), c.lint_rules) for n, c in settings.charts.items()]
    for keys, table in tables:
        for rule in table:
            problem = setting_problem(rule)
            if problem is not None:
                raise v.fail((*keys, rule), problem)
    since = settings.lint.since
    if since is not None and (
        not since.strip() or since.startswith("-") or any(c.isspace() for c in since)
    ):
        raise v.fail(("lint", "since"), f"must name a branch or commit, not {shown(since)}")


def _check_semantics(settings: Settings, v: _Validator) -> None:
    _check_tag_template(settings, v)
    _check_lint(settings, v)
    oci = settings.channels.oci
    gh = settings.channels.github
    pages = settings.channels.pages
    _check_no_credentials(oci.repository if oci else None, ("channels", "oci", "repository"), v)
    _check_no_credentials(gh.api_url if gh else None, ("channels", "github", "api_url"), v)
    _check_no_credentials(pages.index_url if pages else None, ("channels", "pages", "index_url"), v)
    if pages is not None and pages.sunset is not None:
        try:
            datetime.date.fromisoformat(pages.sunset)
        except ValueError:
            raise v.fail(
                ("channels", "pages", "sunset"),
                f"must be a date YYYY-MM-DD, not {shown(pages.sunset)}",
            ) from None
    if oci is not None and not oci.repository.startswith("oci://"):
        raise v.fail(
            ("channels", "oci", "repository"),
            f"must start with oci://, not {shown(oci.repository)}",
        )
    if oci is not None:
        problem = oci_names.namespace_problem(oci_names.split(oci.repository)[1])
        if problem is not None:
            raise v.fail(("channels", "oci", "repository"), problem)
    if gh is not None and gh.repository.count("/") != 1:
        raise v.fail(
            ("channels", "github", "repository"), f"must be owner/name, not {shown(gh.repository)}"
        )
    if gh is not None and not gh.api_url.startswith(("http://", "https://")):
        raise v.fail(
            ("channels", "github", "api_url"), f"must be an http(s) URL, not {shown(gh.api_url)}"
        )
    if pages is not None and not pages.index_url.startswith(("http://", "https://")):
        raise v.fail(
            ("channels", "pages", "index_url"),
            f"must be an http(s) URL, not {shown(pages.index_url)}",
        )
    for name, url in settings.dependencies.repositories.items():
        problem = repository_name_problem(name) or repository_url_problem(url)
        if problem is not None:
            raise v.fail(("dependencies", "repositories", name), problem)
    for url, mirror in settings.dependencies.mirrors.items():
        schemes = REPOSITORY_SCHEMES
        if not url.startswith(schemes):
            raise v.fail(
                ("dependencies", "mirrors", url),
                "must be a repository URL (http://, https:// or oci://) as Chart.yaml names it",
            )
        if not mirror.url.startswith(schemes):
            raise v.fail(
                ("dependencies", "mirrors", url, "url"),
                f"must start with http://, https:// or oci://, not {mirror.url!r}",
            )
        if "@" in mirror.url.split("://", 1)[1].split("/", 1)[0]:
            raise v.fail(
                ("dependencies", "mirrors", url, "url"),
                "must not carry credentials; name environment variables in username_env "
                "and password_env",
            )
        if (mirror.username_env is None) != (mirror.password_env is None):
            raise v.fail(
                ("dependencies", "mirrors", url),
                "username_env and password_env go together",
            )
    needs = {
        "classic": ("github", "pages"),
        "dual": ("github", "pages", "oci"),
        "oci-primary": ("github", "pages", "oci"),
        "oci-only": ("oci",),
    }[settings.channels.phase]
    if pages is not None and pages.packages == "pages":
        # Archives served next to index.yaml: no release assets, so no GitHub needed.
        needs = tuple(name for name in needs if name != "github")
    configured = {name for name in ("github", "pages", "oci") if getattr(settings.channels, name)}
    # A repository that only lints and packages needs no channel at all.
    if configured:
        for name in needs:
            if name not in configured:
                raise v.fail(
                    ("channels", name), f"is required in phase {shown(settings.channels.phase)}"
                )


# --------------------------------------------------------------------------- overrides


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    target = raw
    for key in keys[:-1]:
        nested = target.get(key)
        if nested is None:
            nested = target[key] = {}
        if not isinstance(nested, dict):
            raise ConfigError(f"cannot set {dotted}: {key} is not a mapping", key=dotted)
        target = nested
    target[keys[-1]] = value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key.sub=value`` from a command line; the value is read as a YAML scalar."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {shown(text)} is not of the form key=value")
    try:
        # Bounded like chartship.yaml: an alias bomb stays the text it is.
        parsed = load_data(value, CONFIG) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), item)
    else:
        yield prefix, value


# --------------------------------------------------------------------------- loading


def find_config(start: Path) -> Path | None:
    """chartship.yaml in ``start`` or the nearest parent directory that has one."""
    for directory in (start, *start.parents):
        candidate = directory / DEFAULT_CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    path: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    root: Path | None = None,
) -> Settings:
    """Load and validate settings.

    ``path`` None means: chartship.yaml found from the current directory
    upwards, or defaults when there is none. ``overrides`` maps dotted keys
    (``lint.workers``) or nested mappings to values and wins over the file.
    """
    if path is None:
        found = find_config(Path.cwd())
    else:
        found = Path(path)
        if not found.is_file():
            raise ConfigError("configuration file not found", path=found)
    doc: YamlDocument | None = None
    raw: dict[str, Any] = {}
    if found is not None:
        try:
            doc = load_yaml(found, CONFIG, keep_duplicates=True)
        except ChartError as exc:
            raise ConfigError(exc.message, path=exc.path, line=exc.line) from None
        for twice in doc.duplicate_keys:
            raise ConfigError(
                f"key appears twice (lines {twice.first_line} and {twice.line})",
                path=found,
                key=twice.dotted,
                line=twice.line,
            )
        if doc.data is None:
            raw = {}
        elif isinstance(doc.data, dict):
            raw = doc.data
        else:
            raise ConfigError("must be a mapping of settings", path=found, line=1)
    overridden = set()
    for dotted, value in _flatten("", dict(overrides or {})):
        if dotted:
            _set_dotted(raw, dotted, value)
            overridden.add(dotted)
    base = root if root is not None else (found.parent if found is not None else Path.cwd())
    # Imported here: the lint package imports this module.
    from chartship.lint import ct

    ct.adopt(raw, base)
    validator = _Validator(doc, found, frozenset(overridden))
    settings: Settings = validator.build(Settings, raw, ())
    _check_semantics(settings, validator)
    settings = dataclasses.replace(settings, root=base.resolve(), source=found)
    _check_inside(settings, validator)
    return settings


def _check_inside(settings: Settings, v: _Validator) -> None:
    """Chart directories lie inside the repository, links resolved: a release publishes
    what the repository holds. (dist/ may lie anywhere: it holds only what is built.)"""
    paths: list[tuple[tuple[str, ...], str]] = [(("charts_dir",), settings.charts_dir)]
    paths += [(("charts", n, "path"), c.path) for n, c in settings.charts.items() if c.path]
    for keys, relative in paths:
        resolved = settings.resolve(relative)
        if not resolved.is_relative_to(settings.root):
            raise v.fail(keys, f"{resolved} is outside the repository {settings.root}")


def settings_from(config: str | None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings from chartship.yaml (``config`` or the nearest one) plus overrides.

    An override that is None or empty is left out: it is a flag nobody gave.
    """
    cleaned = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    return load_settings(config or None, cleaned)


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (tuple, list, dict)) and not value:
        return "`[]`" if not isinstance(value, dict) else "`{}`"
    return f"`{value}`" if value != "" else '`""`'


def describe_settings() -> list[tuple[str, str, str]]:
    """(dotted key, default, meaning) for every file key, in declaration order."""
    rows: list[tuple[str, str, str]] = []

    def walk(cls: type[Any], prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for fld in dataclasses.fields(cls):
            if fld.metadata.get("internal"):
                continue
            key = f"{prefix}{fld.name}"
            tp = hints[fld.name]
            nested = [a for a in (tp, *get_args(tp)) if dataclasses.is_dataclass(a)]
            if nested and isinstance(nested[0], type):
                if fld.metadata.get("doc"):
                    rows.append((key, "", fld.metadata["doc"]))
                item = fld.metadata.get("item", "<name>")
                walk(nested[0], f"{key}.{item}." if get_origin(tp) is dict else key + ".")
                continue
            if fld.default is not dataclasses.MISSING:
                default = _show(fld.default)
            elif fld.default_factory is not dataclasses.MISSING:
                default = _show(fld.default_factory())
            else:
                default = "required"
            rows.append((key, default, fld.metadata.get("doc", "")))

    walk(Settings, "")
    return rows

"""chartship.deferred: a module imported at its first use, the same module as ever after.

Each case runs in a fresh interpreter over a package written for it, so that
the modules it counts are imported by the case alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.builders import CLI_TIMEOUT

#: A module that counts its imports in a file, and a submodule of it.
PACKAGE = {
    "counted/__init__.py": """
        import pathlib
        _tally = pathlib.Path(__file__).with_name("imports")
        _tally.write_text(str(int(_tally.read_text()) + 1 if _tally.exists() else 1))
        answer = 42
        def twice(x):
            return 2 * x
    """,
    "counted/extra.py": "value = 'extra'\n",
    "broken/__init__.py": "raise ImportError('broken on purpose')\n",
}


def run_case(tmp_path: Path, body: str) -> Any:
    for relative, text in PACKAGE.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    script = "\n".join(
        [
            "import json, sys, pathlib",
            f"sys.path.insert(0, {str(tmp_path)!r})",
            "from chartship import deferred",
            "tally = pathlib.Path(" + repr(str(tmp_path / "counted" / "imports")) + ")",
            "def imports():",
            "    return int(tally.read_text()) if tally.exists() else 0",
            textwrap.dedent(body),
        ]
    )
    return python(script)


def python(script: str) -> Any:
    """What ``script``, run in a fresh interpreter, printed last, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_deferred_module_is_imported_at_its_first_attribute_and_only_once(
    tmp_path: Path,
) -> None:
    seen = run_case(
        tmp_path,
        """
        deferred.defer("counted")
        import counted
        before = imports()
        answer = counted.answer
        after = imports()
        again = counted.twice(21)
        print(json.dumps({
            "before": before, "after": after, "answer": answer, "again": again,
            "final": imports(), "real": type(sys.modules["counted"]).__name__,
        }))
        """,
    )
    assert seen == {
        "before": 0,
        "after": 1,
        "answer": 42,
        "again": 42,
        "final": 1,
        "real": "module",
    }


def test_from_imports_and_submodules_get_the_real_module(tmp_path: Path) -> None:
    seen = run_case(
        tmp_path,
        """
        deferred.defer("counted")
        from counted import twice
        import counted.extra
        import counted as bound
        print(json.dumps({
            "twice": twice(4), "extra": counted.extra.value,
            "same": bound.twice is twice, "bound": type(bound).__name__,
            "imports": imports(),
        }))
        """,
    )
    assert seen == {"twice": 8, "extra": "extra", "same": True, "bound": "module", "imports": 1}


def test_threads_reading_a_deferred_module_at_once_import_it_once(tmp_path: Path) -> None:
    seen = run_case(
        tmp_path,
        """
        from concurrent.futures import ThreadPoolExecutor
        deferred.defer("counted")
        import counted
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: counted.answer, range(64)))
        print(json.dumps({"answers": sorted(set(answers)), "imports": imports()}))
        """,
    )
    assert seen == {"answers": [42], "imports": 1}


def test_a_module_that_fails_to_import_fails_at_its_first_use_and_again_after(
    tmp_path: Path,
) -> None:
    seen = run_case(
        tmp_path,
        """
        deferred.defer("broken")
        import broken
        errors = []
        for _ in range(2):
            try:
                broken.anything
            except ImportError as exc:
                errors.append(str(exc))
        print(json.dumps({"errors": errors, "stand_in": type(sys.modules["broken"]).__name__}))
        """,
    )
    assert seen == {"errors": ["broken on purpose"] * 2, "stand_in": "_Deferred"}


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("import counted", "module"),  # already imported: left as it is
        ("", None),  # not installed: nothing stands in for it
    ],
)
def test_defer_leaves_imported_and_missing_modules_alone(
    tmp_path: Path, setup: str, expected: str | None
) -> None:
    name = "counted" if setup else "no_such_module_here"
    seen = run_case(
        tmp_path,
        f"""
        {setup}
        deferred.defer({name!r})
        module = sys.modules.get({name!r})
        print(json.dumps({{"kind": type(module).__name__ if module else None}}))
        """,
    )
    assert seen == {"kind": expected}


def test_the_github_client_loads_without_pyjwt_and_app_auth_still_signs() -> None:
    """PyGithub imports PyJWT for GitHub App tokens alone; signing one imports it then."""
    script = textwrap.dedent(
        """
        import json, sys
        import chartship.channels.github.client
        loaded = {m: type(sys.modules.get(m)).__name__ for m in ("jwt", "cryptography")}
        before = sorted(m for m, kind in loaded.items() if kind == "module")
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        import jwt as check
        from github import Auth
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        token = Auth.AppAuth(12345, pem).token
        claims = check.decode(token, key.public_key(), algorithms=["RS256"])
        print(json.dumps({"before": before, "issuer": claims["iss"]}))
        """
    )
    assert python(script) == {"before": [], "issuer": "12345"}

"""Run a composite action's ``run:`` steps here as a GitHub runner runs them.

Only what GitHub documents for composite ``run`` steps: ``${{ }}`` expressions
that read ``inputs``, ``github``, ``runner`` and ``steps.<id>.outputs``; each
step's ``env`` and ``working-directory``; ``shell: bash`` as ``bash --noprofile
--norc -eo pipefail FILE``; the files a runner names in ``GITHUB_OUTPUT``,
``GITHUB_ENV``, ``GITHUB_PATH`` and ``GITHUB_STEP_SUMMARY`` (here temporary
files), with ``name=value`` and ``name<<DELIMITER`` entries. Steps run until
one fails. Anything else in a step is refused, so a step this cannot run as
GitHub would is a test failure, not a silent difference.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
STEP_KEYS = frozenset({"name", "id", "shell", "env", "run", "working-directory"})
#: GitHub's own command line for ``shell: bash``.
BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")
STEP_TIMEOUT = 900


def parse_file_commands(text: str) -> dict[str, str]:
    """The ``GITHUB_OUTPUT`` / ``GITHUB_ENV`` format: ``name=value`` or a heredoc."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while lines[index] != delimiter:
                body.append(lines[index])
                index += 1
                if index >= len(lines):
                    raise ValueError(f"{name}: no closing {delimiter}")
            index += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise ValueError(f"invalid file command line {line!r}")
    return values


@dataclass
class Context:
    inputs: dict[str, str]
    github: dict[str, str]
    runner: dict[str, str]
    steps: dict[str, dict[str, str]] = field(default_factory=dict)

    def lookup(self, expression: str) -> str:
        parts = expression.split(".")
        if parts[0] in ("inputs", "github", "runner") and len(parts) == 2:
            scope: dict[str, str] = getattr(self, parts[0])
            if parts[1] not in scope:
                raise KeyError(f"${{{{ {expression} }}}}: no such value")
            return scope[parts[1]]
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            # An output a step did not write is the empty string, as on GitHub.
            return self.steps.get(parts[1], {}).get(parts[3], "")
        raise ValueError(f"${{{{ {expression} }}}}: not an expression this runner evaluates")

    def evaluate(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self.lookup(m.group(1)), text)


@dataclass
class StepResult:
    id: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str

    @property
    def ok(self) -> bool:
        return all(step.returncode == 0 for step in self.steps)

    @property
    def stdout(self) -> str:
        return "".join(step.stdout for step in self.steps)

    @property
    def stderr(self) -> str:
        return "".join(step.stderr for step in self.steps)


class CompositeAction:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = yaml.safe_load(path.read_text())
        assert self.data["runs"]["using"] == "composite"
        self.steps: list[dict[str, Any]] = self.data["runs"]["steps"]
        for step in self.steps:
            unknown = set(step) - STEP_KEYS
            if unknown:
                raise ValueError(f"step {step.get('id')}: this runner does not do {unknown}")
            if step.get("shell") != "bash":
                raise ValueError(f"step {step.get('id')}: shell {step.get('shell')!r}")

    def run(
        self,
        inputs: Mapping[str, str],
        *,
        workspace: Path,
        files: Path,
        runner_temp: Path,
        tool_cache: Path,
        env: Mapping[str, str] | None = None,
        github: Mapping[str, str] | None = None,
        done: Mapping[str, Mapping[str, str]] | None = None,
    ) -> ActionRun:
        """Run the steps (those in ``done`` are taken as run, with those outputs)."""
        declared = self.data.get("inputs", {})
        unknown = set(inputs) - set(declared)
        if unknown:
            raise ValueError(f"inputs the action does not declare: {sorted(unknown)}")
        github_context = {"action_path": str(self.path.parent), **(github or {})}
        context = Context(
            inputs={},
            github=github_context,
            runner={"temp": str(runner_temp), "tool_cache": str(tool_cache)},
            steps={k: dict(v) for k, v in (done or {}).items()},
        )
        for name, spec in declared.items():
            given = inputs.get(name)
            context.inputs[name] = (
                given if given is not None else context.evaluate(str(spec.get("default", "")))
            )
        files.mkdir(parents=True, exist_ok=True)
        shared = {
            "GITHUB_ENV": files / "env",
            "GITHUB_PATH": files / "path",
            "GITHUB_STEP_SUMMARY": files / "summary.md",
        }
        for target in shared.values():
            target.touch()
        base = {
            **(env if env is not None else os.environ),
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_ACTION_PATH": str(self.path.parent),
            "RUNNER_TEMP": str(runner_temp),
            "RUNNER_TOOL_CACHE": str(tool_cache),
            **{k: str(v) for k, v in shared.items()},
        }
        results: list[StepResult] = []
        for number, step in enumerate(self.steps):
            step_id = step.get("id", f"__{number}")
            if step_id in context.steps:
                continue
            output = files / f"output-{number}"
            output.write_text("")
            step_env = {
                **base,
                **parse_file_commands(shared["GITHUB_ENV"].read_text()),
                **{k: context.evaluate(str(v)) for k, v in step.get("env", {}).items()},
                "GITHUB_OUTPUT": str(output),
            }
            extra_path = [p for p in shared["GITHUB_PATH"].read_text().splitlines() if p]
            if extra_path:
                step_env["PATH"] = os.pathsep.join([*reversed(extra_path), step_env["PATH"]])
            script = files / f"step-{number}.sh"
            script.write_text(context.evaluate(step["run"]))
            cwd = workspace / context.evaluate(step.get("working-directory", "."))
            proc = subprocess.run(
                [*BASH, str(script)],
                cwd=cwd,
                env=step_env,
                capture_output=True,
                text=True,
                check=False,
                timeout=STEP_TIMEOUT,
            )
            outputs = parse_file_commands(output.read_text())
            context.steps[step_id] = outputs
            results.append(StepResult(step_id, proc.returncode, proc.stdout, proc.stderr, outputs))
            if proc.returncode != 0:
                break
        action_outputs = {
            name: context.evaluate(str(spec["value"]))
            for name, spec in self.data.get("outputs", {}).items()
        }
        return ActionRun(results, action_outputs, shared["GITHUB_STEP_SUMMARY"].read_text())

"""What the project hands its users stays in step with what it runs: the README's table of checkov
skips lists the skips of the .tf files, and the CI workflow and the git hooks run the checks of
`make lint`."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MAKE_VARIABLES = {"$(PY)": ".venv/bin/python", "$(CHECKOV_VENV)": ".venv-checkov"}


def skips_in_terraform() -> set[tuple[str, str]]:
    """(check id, resource address) of every `#checkov:skip` comment, which checkov honours only
    inside the resource it applies to."""
    found = set()
    for path in ROOT.glob("*.tf"):
        address = None
        for line in path.read_text(encoding="utf-8").splitlines():
            block = re.match(r'^(resource|data) "([^"]+)" "([^"]+)"', line)
            if block:
                address = f"{'data.' if block.group(1) == 'data' else ''}{block.group(2)}.{block.group(3)}"
            skip = re.match(r"\s*#checkov:skip=([A-Z0-9_]+):(.*)", line)
            if skip:
                assert address is not None and skip.group(2).strip(), f"{path.name}: {line.strip()} needs a resource and a reason"
                found.add((skip.group(1), address))
    return found


def skips_in_readme() -> set[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("### checkov skips") :].split("\n\n")[2]
    found, checks = set(), []
    for row in table.splitlines()[2:]:
        check_cell, resources_cell = row.split(" | ")[0:2]
        checks = re.findall(r"`(CKV2?_AWS_\d+)`", check_cell) or checks  # an empty cell continues the row above
        found |= {(check, resource) for check in checks for resource in re.findall(r"`([\w.]+)`", resources_cell)}
    return found


def test_the_readme_lists_every_checkov_skip_and_no_other() -> None:
    in_terraform, in_readme = skips_in_terraform(), skips_in_readme()
    assert in_terraform, "no #checkov:skip found: the parser is broken"
    assert in_readme == in_terraform, f"only in the .tf files: {sorted(in_terraform - in_readme)}; only in the README: {sorted(in_readme - in_terraform)}"


def lint_commands() -> list[str]:
    """The command lines of the Makefile's lint-* targets, with its variables spelled out."""
    commands, target = [], None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        rule = re.match(r"^([\w-]+):", line)
        if rule:
            target = rule.group(1)
        elif line.startswith("\t") and target and target.startswith("lint-"):
            command = line.strip()
            for variable, value in MAKE_VARIABLES.items():
                command = command.replace(variable, value)
            commands.append(command)
    return commands


def test_the_git_hooks_run_every_check_of_make_lint() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"][0]["hooks"]
    entries = {hook["entry"] for hook in hooks}
    commands = lint_commands()
    assert len(commands) >= 7, commands
    assert [command for command in commands if command not in entries] == []


def test_the_ci_workflow_runs_make_lint_and_the_tests_on_pull_requests() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the key `on` as true
    steps = [step.get("run", "") for step in workflow["jobs"]["checks"]["steps"]]
    lint_targets = re.findall(r"^(lint-[\w-]+):", (ROOT / "Makefile").read_text(encoding="utf-8"), flags=re.M)
    for target in lint_targets:
        assert f"make {target}" in steps, f"ci.yml does not run make {target}"
    assert any("pytest" in run and "tests" in run for run in steps)


@pytest.mark.skipif(shutil.which("pre-commit") is None and not (ROOT / ".venv" / "bin" / "pre-commit").exists(), reason="pre-commit not installed")
def test_the_pre_commit_configuration_is_valid() -> None:
    executable = shutil.which("pre-commit") or str(ROOT / ".venv" / "bin" / "pre-commit")
    result = subprocess.run([executable, "validate-config", ".pre-commit-config.yaml"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

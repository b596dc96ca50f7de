"""What the project hands its users stays in step with what it runs: docs/verification.md's table of checkov
skips lists the skips of the .tf files, the CI workflow and the git hooks run the checks of
`make lint`, `make demo` and `make release` run what the docs say with the arguments given, and
terraform.tfvars.example sets each variable of variables.tf at most once and no other name
(Terraform would only warn about a misspelled one)."""

import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml
from hcl2 import SerializationOptions

from local_aws.terraform import configuration_files

ROOT = Path(__file__).resolve().parent.parent
MAKE_VARIABLES = {"$(PY)": ".venv/bin/python", "$(CHECKOV_VENV)": ".venv-checkov"}


def skips_in_terraform() -> set[tuple[str, str]]:
    """(check id, resource address) of every `#checkov:skip` comment, which checkov honours only
    inside the resource it applies to."""
    found = set()
    for path in configuration_files(ROOT):
        module = f"module.{path.parent.name}." if path.parent != ROOT else ""
        address = None
        for line in path.read_text(encoding="utf-8").splitlines():
            block = re.match(r'^(resource|data) "([^"]+)" "([^"]+)"', line)
            if block:
                address = f"{module}{'data.' if block.group(1) == 'data' else ''}{block.group(2)}.{block.group(3)}"
            skip = re.match(r"\s*#checkov:skip=([A-Z0-9_]+):(.*)", line)
            if skip:
                assert address is not None and skip.group(2).strip(), f"{path.name}: {line.strip()} needs a resource and a reason"
                found.add((skip.group(1), address))
    return found


def skips_in_readme() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "verification.md").read_text(encoding="utf-8")
    table = text[text.index("## checkov skips") :].split("\n\n")[2]
    found, checks = set(), []
    for row in table.splitlines()[2:]:
        check_cell, resources_cell = row.split(" | ")[0:2]
        checks = re.findall(r"`(CKV2?_AWS_\d+)`", check_cell) or checks  # an empty cell continues the row above
        found |= {(check, resource) for check in checks for resource in re.findall(r"`([\w.]+)`", resources_cell)}
    return found


def test_the_docs_list_every_checkov_skip_and_no_other() -> None:
    in_terraform, in_readme = skips_in_terraform(), skips_in_readme()
    assert in_terraform, "no #checkov:skip found: the parser is broken"
    assert in_readme == in_terraform, f"only in the .tf files: {sorted(in_terraform - in_readme)}; only in docs/verification.md: {sorted(in_readme - in_terraform)}"


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


def make_dry_run(*arguments: str) -> str:
    """What `make` would run, forced as if nothing were built (-B) and without running it (-n)."""
    result = subprocess.run(["make", "--no-print-directory", "-n", "-B", *arguments], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_demo_installs_only_the_demo_requirements() -> None:
    commands = make_dry_run("demo")
    assert "-r requirements-demo.txt" in commands
    for absent in ("npm", "checkov", "requirements-checkov", "requirements-dev", "vendored"):
        assert absent not in commands, f"make demo runs {absent}:\n{commands}"
    assert commands.strip().endswith(".venv/bin/python -m local_aws.demo")


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_demo_app_passes_the_directory_and_keep_to_the_demo() -> None:
    assert make_dry_run("demo", "APP=../my app", "KEEP=1").strip().endswith('.venv/bin/python -m local_aws.demo --app "../my app" --keep')


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_release_passes_the_manifest_and_the_url_to_the_release_command() -> None:
    url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1/releases"
    commands = make_dry_run("release", "MANIFEST=releases/5.16.json", f"URL={url}")
    assert commands.strip().endswith(f'.venv/bin/python -m tools.release "releases/5.16.json" --url "{url}"')
    for absent in ("npm", "checkov", "requirements-checkov", "requirements-dev"):
        assert absent not in commands, f"make release runs {absent}:\n{commands}"
    # Without URL, tools.release reads RELEASE_API_URL; the manifest's path stays one argument.
    assert make_dry_run("release", "MANIFEST=manifest.json").strip().endswith('.venv/bin/python -m tools.release "manifest.json"')
    assert make_dry_run("release", "MANIFEST=../my releases/5.16.json").strip().endswith('.venv/bin/python -m tools.release "../my releases/5.16.json"')


def requirement_lines(name: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / name).read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line]


def test_the_demo_requirements_are_pinned_and_part_of_the_dev_requirements() -> None:
    demo = requirement_lines("requirements-demo.txt")
    packages = [line for line in demo if not line.startswith("-r ")]
    assert packages, "requirements-demo.txt lists no package"
    assert [line for line in packages if not re.fullmatch(r"[A-Za-z0-9_.-]+(\[[A-Za-z0-9_,.-]+\])?==[0-9][A-Za-z0-9.]*", line)] == []
    assert [line for line in demo if line.startswith("-r ")] == ["-r requirements-layer.txt"]
    assert "-r requirements-demo.txt" in requirement_lines("requirements-dev.txt")
    # A package both files name (moto, with other extras) has one version.
    pins = {}
    for line in packages + [line for line in requirement_lines("requirements-dev.txt") if "==" in line]:
        name, version = re.sub(r"\[.*\]", "", line).lower().split("==")
        assert pins.setdefault(name, version) == version, f"{name} is pinned to {pins[name]} and {version}"


def example_assignments() -> tuple[list[str], str]:
    """The names terraform.tfvars.example's commented assignments set, in order, and those
    assignments uncommented (a value may span lines, as a map does)."""
    names, lines, depth = [], [], 0
    for line in (ROOT / "terraform.tfvars.example").read_text(encoding="utf-8").splitlines():
        if not line.startswith("# "):
            continue
        code = re.sub(r"\s+#.*$", "", line[2:])  # without its trailing comment
        if depth == 0:
            assignment = re.match(r"([a-z_][a-z0-9_]*)\s*=", code)
            if not assignment:
                continue  # prose
            names.append(assignment.group(1))
        lines.append(code)
        depth += code.count("{") + code.count("[") - code.count("}") - code.count("]")
    assert depth == 0, "an assignment of terraform.tfvars.example is not closed"
    return names, "\n".join(lines)


def test_the_tfvars_example_sets_each_variable_once_and_only_variables() -> None:
    names, code = example_assignments()
    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    with open(ROOT / "variables.tf", encoding="utf-8") as file:
        variables = {name for entry in hcl2.load(file, serialization_options=options)["variable"] for name in entry}

    assert len(names) > 20, f"too few assignments found: {names}"
    assert sorted(hcl2.loads(code, serialization_options=options)) == sorted(set(names)), "the uncommented assignments are not HCL"
    assert sorted({name for name in names if names.count(name) > 1}) == [], "set more than once"
    assert sorted(set(names) - variables) == [], "not variables of variables.tf"
    assert sorted(variables - set(names)) == [], "variables terraform.tfvars.example does not show"

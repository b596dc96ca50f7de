"""`terraform validate` of the root configuration, and of each module under modules/ that the root
does not call (modules/pipeline-access, applied in other accounts): the root's validation covers
the modules it calls. It runs in a temporary copy so that no .terraform/ or lock file lands in the
repository. The AWS provider comes from a filesystem mirror when one is on the machine (offline),
otherwise from the registry. Warnings fail too: a deprecation warning under the installed provider
line is an error in the next one.

    python -m tools.validate_terraform
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from local_aws.terraform import ROOT, cli_config, copy_configuration, find_provider_mirror

MODULE_SOURCE = re.compile(r'^\s*source\s*=\s*"\./modules/([\w-]+)"', re.M)


def standalone_modules(configuration: Path = ROOT) -> list[str]:
    """The modules/<name> folders with .tf files that no module block of the root configuration calls."""
    called = {name for tf_file in configuration.glob("*.tf") for name in MODULE_SOURCE.findall(tf_file.read_text(encoding="utf-8"))}
    folders = sorted(folder for folder in (configuration / "modules").glob("*") if folder.is_dir() and any(folder.glob("*.tf")))
    return [f"modules/{folder.name}" for folder in folders if folder.name not in called]


def validate_folder(folder: Path, env: dict[str, str], label: str) -> tuple[bool, list[str], dict[str, str]]:
    """(valid without warnings, its diagnostics, the provider versions it selected) of one configuration."""
    init = subprocess.run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=folder, env=env, capture_output=True, text=True, check=False)
    if init.returncode != 0:
        return False, [f"{label}: terraform init failed:\n{init.stdout}\n{init.stderr}"], {}
    result = subprocess.run(["terraform", "validate", "-json", "-no-color"], cwd=folder, env=env, capture_output=True, text=True, check=False)
    version = subprocess.run(["terraform", "version", "-json"], cwd=folder, env=env, capture_output=True, text=True, check=False)
    providers = json.loads(version.stdout).get("provider_selections", {}) if version.returncode == 0 else {}
    report = json.loads(result.stdout)
    messages = [f"{label}: {d['severity']}: {d['summary']} {d.get('detail', '')}".strip() for d in report.get("diagnostics", [])]
    return report["valid"] and report["warning_count"] == 0, messages, providers


def validate() -> tuple[bool, list[str]]:
    """(every configuration valid without warnings, what to print: the provider versions used, the
    configurations validated and the diagnostics)."""
    with tempfile.TemporaryDirectory(prefix="validate-") as folder:
        workdir = Path(folder)
        copy_configuration(workdir, stub_missing_packages=True)
        env = {name: value for name, value in os.environ.items() if name != "TF_DATA_DIR"} | {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        mirror = find_provider_mirror()
        if mirror is not None:
            env["TF_CLI_CONFIG_FILE"] = str(cli_config(workdir, mirror))
        valid, selections, diagnostics = True, [], []
        for label in ["root", *standalone_modules(workdir)]:
            ok, messages, providers = validate_folder(workdir if label == "root" else workdir / label, env, label)
            valid = valid and ok
            selections += [f"provider {name} {selected}" for name, selected in providers.items()]
            diagnostics += [*messages, f"{label}: " + ("valid, no warnings" if ok else "FAILED")]
    return valid, list(dict.fromkeys(selections)) + diagnostics


def main() -> int:
    valid, messages = validate()
    for message in messages:
        print(message)
    print("terraform validate: " + ("valid, no warnings" if valid else "FAILED"))
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())

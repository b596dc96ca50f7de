"""`terraform validate` of the root configuration, in a temporary copy so that no .terraform/ or
lock file lands in the repository. The AWS provider comes from a filesystem mirror when one is on
the machine (offline), otherwise from the registry. Warnings fail too: a deprecation warning under
the installed provider line is an error in the next one.

    python -m tools.validate_terraform
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from local_aws.terraform import cli_config, copy_configuration, find_provider_mirror


def validate() -> tuple[bool, list[str]]:
    """(valid without warnings, what to print: the provider versions used and the diagnostics)."""
    with tempfile.TemporaryDirectory(prefix="validate-") as folder:
        workdir = Path(folder)
        copy_configuration(workdir, stub_missing_packages=True)
        env = {name: value for name, value in os.environ.items() if name != "TF_DATA_DIR"} | {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
        mirror = find_provider_mirror()
        if mirror is not None:
            env["TF_CLI_CONFIG_FILE"] = str(cli_config(workdir, mirror))
        init = subprocess.run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], cwd=workdir, env=env, capture_output=True, text=True, check=False)
        if init.returncode != 0:
            return False, [f"terraform init failed:\n{init.stdout}\n{init.stderr}"]
        result = subprocess.run(["terraform", "validate", "-json", "-no-color"], cwd=workdir, env=env, capture_output=True, text=True, check=False)
        version = subprocess.run(["terraform", "version", "-json"], cwd=workdir, env=env, capture_output=True, text=True, check=False)
    providers = json.loads(version.stdout).get("provider_selections", {}) if version.returncode == 0 else {}
    report = json.loads(result.stdout)
    messages = [f"provider {name} {selected}" for name, selected in providers.items()] + [
        f"{d['severity']}: {d['summary']} {d.get('detail', '')}".strip() for d in report.get("diagnostics", [])
    ]
    return report["valid"] and report["warning_count"] == 0, messages


def main() -> int:
    valid, messages = validate()
    for message in messages:
        print(message)
    print("terraform validate: " + ("valid, no warnings" if valid else "FAILED"))
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())

"""Where the local runs get the AWS provider from (local_aws/terraform.py): a filesystem mirror when
one is on disk, otherwise the registry with a plugin cache, and when neither works, a message that
says how to make a mirror. Nothing here runs Terraform or touches the network."""

import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from local_aws import terraform
from local_aws.terraform import TESTED_AWS_PROVIDER, LocalTerraform, ProviderUnavailable, TerraformError

OFFLINE_STDERR = """
Error: Failed to query available provider packages

Could not retrieve the list of available versions for provider hashicorp/aws:
could not connect to registry.terraform.io: failed to request discovery
document: Get "https://registry.terraform.io/.well-known/terraform.json":
dial tcp: lookup registry.terraform.io: no such host
"""
HCL_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def parse_hcl(text: str) -> dict[str, Any]:
    return hcl2.loads(text, serialization_options=HCL_OPTIONS)


@pytest.fixture
def plugin_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "plugin-cache"
    monkeypatch.setattr(terraform, "PLUGIN_CACHE", cache)
    return cache


def prepared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: Path | None) -> LocalTerraform:
    monkeypatch.setattr(terraform, "find_provider_mirror", lambda: mirror)
    return LocalTerraform.prepare("http://127.0.0.1:4566", workdir=tmp_path / "workdir")


def test_with_a_mirror_hashicorp_providers_come_from_it_and_the_rest_from_their_registries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_cache: Path) -> None:
    mirror = tmp_path / "mirror"
    local = prepared(tmp_path, monkeypatch, mirror)
    config = Path(local.env["TF_CLI_CONFIG_FILE"]).read_text(encoding="utf-8")
    assert local.mirror == mirror
    assert re.search(r'filesystem_mirror \{\s*path\s*= "' + re.escape(str(mirror)) + r'"\s*include = \["registry.terraform.io/hashicorp/\*"\]', config)
    assert re.search(r'direct \{\s*exclude = \["registry.terraform.io/hashicorp/\*"\]', config)
    assert "plugin_cache_dir" not in config
    assert not plugin_cache.exists()
    # The mirror's release is used, whichever the configuration's constraint allows.
    assert "required_providers" not in (local.workdir / terraform.OVERRIDE_FILE).read_text(encoding="utf-8")


def test_without_a_mirror_the_provider_comes_from_the_registry_into_a_plugin_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_cache: Path) -> None:
    local = prepared(tmp_path, monkeypatch, None)
    config = Path(local.env["TF_CLI_CONFIG_FILE"]).read_text(encoding="utf-8")
    assert local.mirror is None
    assert "filesystem_mirror" not in config
    assert re.search(r"provider_installation \{\s*direct \{\}\s*\}", config)
    assert f'plugin_cache_dir = "{plugin_cache}"' in config
    assert "plugin_cache_may_break_dependency_lock_file = true" in config  # each test's fresh copy uses the cache too
    assert plugin_cache.is_dir()  # Terraform does not create it
    override = parse_hcl((local.workdir / terraform.OVERRIDE_FILE).read_text(encoding="utf-8"))
    assert override["terraform"][0]["required_providers"][0]["aws"]["version"] == TESTED_AWS_PROVIDER


def test_no_mirror_is_no_longer_a_missing_prerequisite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terraform, "find_provider_mirror", lambda: None)
    monkeypatch.setattr(terraform.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert "mirror" not in (terraform.missing_prerequisites() or "")


def failed_init(local: LocalTerraform, monkeypatch: pytest.MonkeyPatch) -> Exception:
    monkeypatch.setattr(LocalTerraform, "run", lambda self, *args, **kwargs: subprocess.CompletedProcess(["terraform", *args], 1, "Initializing provider plugins...\n", OFFLINE_STDERR))
    with pytest.raises(TerraformError) as raised:
        local.init()
    return raised.value


def test_offline_without_a_mirror_init_says_how_to_make_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_cache: Path) -> None:
    monkeypatch.setattr(terraform, "terraform_platform", lambda: "darwin_arm64")
    error = failed_init(prepared(tmp_path, monkeypatch, None), monkeypatch)
    message = str(error)
    assert isinstance(error, ProviderUnavailable)
    assert "could not connect to registry.terraform.io" in message  # Terraform's own error
    assert "terraform -chdir=aws-provider-pin providers mirror -platform=darwin_arm64 ~/.terraform.d/plugins" in message
    assert "~/.terraform.d/plugins/registry.terraform.io/hashicorp/aws" in message
    # The versions.tf of the snippet, unindented so the heredoc ends at its EOF line.
    versions_tf = re.search(r"^mkdir -p aws-provider-pin && cat > aws-provider-pin/versions.tf <<'EOF'\n(.*?)^EOF$", message, flags=re.S | re.M)
    assert versions_tf is not None, message
    aws = parse_hcl(versions_tf.group(1))["terraform"][0]["required_providers"][0]["aws"]
    assert (aws["source"], aws["version"]) == ("hashicorp/aws", TESTED_AWS_PROVIDER)


def test_a_failed_init_with_a_mirror_is_terraforms_own_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_cache: Path) -> None:
    error = failed_init(prepared(tmp_path, monkeypatch, tmp_path / "mirror"), monkeypatch)
    assert not isinstance(error, ProviderUnavailable)
    assert str(error).startswith("terraform init exited with 1")


@pytest.mark.parametrize(("system", "machine", "expected"), [("Linux", "x86_64", "linux_amd64"), ("Darwin", "arm64", "darwin_arm64"), ("Linux", "aarch64", "linux_arm64")])
def test_the_mirror_is_made_for_this_machines_platform(monkeypatch: pytest.MonkeyPatch, system: str, machine: str, expected: str) -> None:
    monkeypatch.setattr(terraform.platform, "system", lambda: system)
    monkeypatch.setattr(terraform.platform, "machine", lambda: machine)
    assert terraform.terraform_platform() == expected

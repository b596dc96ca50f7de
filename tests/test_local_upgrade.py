"""Which layer the upgrade check deploys the previous release with (local_aws/upgrade.py)."""

from pathlib import Path

import pytest

from local_aws.upgrade import missing_from_layer


def tree(folder: Path, requirements: str) -> Path:
    folder.mkdir()
    (folder / "requirements-layer.txt").write_text(requirements, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("current", "missing"),
    [
        ("# the layer\njmespath==1.0.1  # for powertools\naws-xray-sdk==2.15.0\n", set()),  # comments and order aside, the same
        ("aws-xray-sdk==2.15.0\njmespath==1.0.1\nfastjsonschema==2.22.3\n", set()),  # a package added since
        ("aws-xray-sdk==2.15.0\njmespath==1.0.2\n", {"jmespath==1.0.1"}),  # another version
        ("aws-xray-sdk==2.15.0\n", {"jmespath==1.0.1"}),  # a package removed since
    ],
)
def test_this_layer_serves_a_previous_release_whose_packages_it_holds_at_their_versions(tmp_path: Path, current: str, missing: set[str]) -> None:
    previous = tree(tmp_path / "previous", "aws-xray-sdk==2.15.0\njmespath==1.0.1\n")

    assert missing_from_layer(previous, tree(tmp_path / "this", current)) == missing

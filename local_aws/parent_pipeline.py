"""Pipelines waiting on pipelines, on the local AWS: examples/parent-pipeline applied next to the
platform, with its two target pipelines (local_aws/target_pipelines.py) in two accounts.

    chain = ParentPipeline.apply(stack, folder)      # targets created, the example applied
    run = chain.push(source_folder, "r5.16")         # Source -> Components (two waiter actions)
    run.action("Components")                         # what the waiter reported
    chain.waiting_pipeline("wait-for-nightly", {"pipeline": "nightly-tests"})  # one waiter action

The platform's waiter may follow the targets because the local platform's variables list them
(local_aws/stack.py WAITER_PIPELINES, WAITER_TARGET_ROLE_ARNS). Terraform creates the role the
waiter assumes in the target account by assuming a role there itself (the example's
`target_account` provider), as a user applying both accounts from one configuration does.
"""

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from local_aws.codepipeline import PipelineRun, push_commit
from local_aws.stack import LocalStack
from local_aws.target_pipelines import TARGET_ACCOUNT, account_session, create_target_pipeline
from local_aws.terraform import ROOT, LocalTerraform

EXAMPLE = ROOT / "examples" / "parent-pipeline"
API_PIPELINE = "api"  # in the platform's account, started by the parent
SHARED_PIPELINE = "shared-services"  # in the target account, followed by the parent
NIGHTLY_PIPELINE = "nightly-tests"  # in the platform's account, PARALLEL, for waits that time out
TERRAFORM_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/terraform"


@dataclass
class ParentPipeline:
    stack: LocalStack
    terraform: LocalTerraform
    outputs: dict[str, Any]
    target_session: boto3.session.Session
    seconds: float

    @classmethod
    def apply(cls, stack: LocalStack, folder: Path) -> "ParentPipeline":
        """Create the target pipelines and apply examples/parent-pipeline (in `folder`) for them."""
        started = time.monotonic()
        target_session = account_session(TARGET_ACCOUNT)
        create_target_pipeline(boto3.session.Session(), API_PIPELINE)
        create_target_pipeline(boto3.session.Session(), NIGHTLY_PIPELINE, execution_mode="PARALLEL")
        create_target_pipeline(target_session, SHARED_PIPELINE)
        # The example names the module by its path in this repository: keep that layout.
        shutil.copytree(ROOT / "modules", folder / "modules", dirs_exist_ok=True)
        variables = {
            "platform": json.dumps(stack.outputs["platform"]),
            "pipeline_waiter": json.dumps({key: stack.outputs["pipeline_waiter"][key] for key in ("role_arn", "session_name")}),
            "same_account_pipeline": API_PIPELINE,
            "target_account_pipeline": SHARED_PIPELINE,
            "target_account_terraform_role_arn": TERRAFORM_ROLE,
        }
        terraform = LocalTerraform.prepare(stack.endpoint, workdir=folder / "examples" / EXAMPLE.name, variables=variables, configuration=EXAMPLE, provider_aliases=("target_account",))
        terraform.init()
        terraform.apply()
        return cls(stack, terraform, terraform.outputs(), target_session, time.monotonic() - started)

    @property
    def name(self) -> str:
        return str(self.outputs["pipeline_name"])

    def push(self, source: Path, commit_id: str, pipeline: str | None = None, interval_seconds: float = 0.05) -> PipelineRun:
        """Run the parent pipeline (or `pipeline`) for the files in `source` as `commit_id`, to its end."""
        return push_commit(pipeline or self.name, source, commit_id, self.stack.server.job_results, continuation_interval_seconds=interval_seconds, max_invocations=100_000)

    def waiting_pipeline(self, name: str, user_parameters: Any) -> str:
        """A pipeline like the parent with a single waiter action, whose UserParameters are
        `user_parameters` (a string as it is, anything else as JSON); its name."""
        parent = boto3.client("codepipeline").get_pipeline(name=self.name)["pipeline"]
        source, components = parent["stages"]
        action = dict(components["actions"][0])
        text = user_parameters if isinstance(user_parameters, str) else json.dumps(user_parameters)
        action |= {"name": "Wait", "namespace": "Wait", "configuration": action["configuration"] | {"UserParameters": text}}
        pipeline = {key: parent[key] for key in ("roleArn", "artifactStore", "pipelineType", "executionMode") if key in parent} | {
            "name": name,
            "stages": [source, {"name": "Wait", "actions": [action]}],
        }
        boto3.client("codepipeline").create_pipeline(pipeline=pipeline)
        return name

    def destroy(self) -> None:
        """terraform destroy of the example (the target pipelines stay: they stand for pipelines
        of the teams' own)."""
        self.terraform.destroy()
        self.terraform.close()

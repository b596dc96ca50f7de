"""Named errors. The class name is the error name Step Functions sees, so ASL Retry and Catch
rules match on these names; the message becomes the Cause and must tell a person what to do."""


class DeploymentError(Exception):
    """Base of every error a handler raises on purpose."""

    @property
    def name(self) -> str:
        return type(self).__name__


class InvalidInput(DeploymentError):
    """The event is malformed: a field is missing or has the wrong type."""


class ConfigurationError(DeploymentError):
    """An environment variable the handler needs is missing or invalid, or a service's registry
    entry is not a service document (a Terraform wiring bug)."""


class UnknownService(DeploymentError):
    """The service named by the pipeline or the execution input is not registered with the platform
    (there is no SSM parameter <SERVICES_PARAMETER_PREFIX><name>): it must be added to the platform's
    `services` map, or registered with modules/service, and applied."""


class TargetNotAllowed(DeploymentError):
    """The request names a target its service does not register: a function, alias, CodeDeploy
    application or group, setting or pipeline other than the service's registry entry holds, or a
    deployment or record of another service. Refused before anything is changed."""


class ArtifactUnavailable(DeploymentError):
    """The build artifact cannot be read from S3."""


class CodeUpdateFailed(DeploymentError):
    """Lambda rejected the new code or its update ended in the Failed state."""


class DeploymentInProgress(DeploymentError):
    """Another deployment is active on the CodeDeploy group; the state machine retries later."""


class FunctionBusy(DeploymentError):
    """Lambda is still applying an earlier change to the function; the state machine retries later."""


class DeploymentFailed(DeploymentError):
    """CodeDeploy reported the deployment Failed or Stopped."""


class DeploymentTimedOut(DeploymentError):
    """The deployment did not finish before its deadline; the rollback stops it."""


class DeploymentStopped(DeploymentError):
    """The deployment was stopped (its pipeline run was stopped, superseded or failed); what it
    deployed is restored."""


class RollbackFailed(DeploymentError):
    """An environment could not be restored to its previous version."""


class Throttled(DeploymentError):
    """AWS throttled a call; retried by the state machine with backoff."""


class ServiceUnavailable(DeploymentError):
    """An AWS service answered 5xx or could not be reached, after the SDK's own retries; retried by
    the state machine with backoff."""


class AwsRequestFailed(DeploymentError):
    """An AWS call failed for a reason other than throttling (e.g. AccessDenied)."""


class UnexpectedError(DeploymentError):
    """A bug in the handler: the message names the exception; the log has the traceback."""


class InvalidArtifact(DeploymentError):
    """The artifact is not a usable Lambda deployment package (not a zip, unsafe entries)."""


class BadManifest(DeploymentError):
    """A release manifest breaks the schema (schemas/release-manifest.schema.json) or a rule it
    cannot express (a duplicate pipeline, an `after` naming no pipeline of the release, a cycle, a
    pipeline or role the platform may not use). The message names each field path, what it must
    be and an example; nothing is started."""

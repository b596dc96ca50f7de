"""CodeDeploy deployment statuses, as GetDeployment reports them."""

ACTIVE_STATUSES = frozenset({"Created", "Queued", "InProgress", "Baking", "Ready"})
FAILED_STATUSES = frozenset({"Failed", "Stopped"})

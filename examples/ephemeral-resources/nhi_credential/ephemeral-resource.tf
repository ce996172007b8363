# A CI job takes one credential for its run. The value never reaches state or plan files:
# Terraform opens the credential when the run needs it, renews it within the TTL policy's
# budget while the run lasts, and the provider revokes it as soon as Terraform closes it at
# the end of the run. The request is in the audit log with its requester and purpose.
ephemeral "nhi_credential" "deploy" {
  identity = nhi_identity.deploy.id
  ttl      = "10m"
  purpose  = "deploy ${var.release}"
  # requester defaults to the provider's `requester`, then NHI_REQUESTER, then the CI job's
  # identifiers (GITHUB_REPOSITORY and GITHUB_RUN_ID, CI_PROJECT_PATH and CI_JOB_ID, ...).
}

# Hand it to what needs it during the run: a provider block...
provider "vault" {
  alias = "deploy"
  token = ephemeral.nhi_credential.deploy.value
}

# ...or a write-only argument, which Terraform passes to the provider and never stores:
# here the deploy runner started by this apply reads the credential from Secret Manager.
# Bump the version to write a new value on the next run.
resource "google_secret_manager_secret_version" "deploy_runner" {
  secret                 = google_secret_manager_secret.deploy_runner.id
  secret_data_wo         = ephemeral.nhi_credential.deploy.value
  secret_data_wo_version = var.run_number
}

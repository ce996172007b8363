# An ephemeral identity: a CI job that gets a fresh credential per run under the `ci-short`
# TTL policy. Its name must match the class's naming_pattern.
resource "nhi_identity" "ci_build" {
  name        = "ci-build"
  class       = "ci"
  owner       = "team-platform"
  environment = "dev"
  ttl_policy  = "ci-short"
  description = "Builds and tests every pull request"
  scopes      = ["read:artifacts", "write:cache"]
}

# A persistent identity: a service account with a stable name whose secret is rotated. It has
# no TTL policy. When it is destroyed every credential is revoked and a disabled record is kept
# for audit (on_destroy = "retire", the default).
resource "nhi_identity" "billing_sync" {
  name        = "billing-sync"
  class       = "service"
  owner       = "team-billing"
  environment = "prod"
  description = "Nightly sync to the billing provider"
  scopes      = ["read:invoices"]
  on_destroy  = "retire"
}

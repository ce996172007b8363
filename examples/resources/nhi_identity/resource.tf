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
  bound_cidrs = ["10.20.0.0/16"]
}

# A persistent identity: a service account with a stable name whose secret is rotated. It has
# no TTL policy. When it is destroyed every credential is revoked and a disabled record is kept
# for audit (on_destroy = "retire", the default). Its class reviews identities every 90 days:
# the pull request that moves reviewed_at is the attestation, and the plan warns 14 days before
# the next review falls due. Its class also requires the owner to be an active nhi_owner.
resource "nhi_identity" "billing_sync" {
  name        = "billing-sync"
  class       = "service"
  owner       = "team-billing"
  environment = "prod"
  description = "Nightly sync to the billing provider"
  scopes      = ["read:invoices"]
  on_destroy  = "retire"
  reviewed_at = "2026-01-15T10:00:00Z"
  reviewed_by = "alice@example.com"
}

# On the Vault engine a scope is a Vault ACL policy: the identity's AppRole role gets exactly
# these policies as its token_policies (with token_no_default_policy), so every credential's
# token can read the one KV path below and nothing else. The policy may be managed by the Vault
# provider in the same configuration; referencing it orders the two.
resource "vault_policy" "ci_read" {
  name   = "ci-read"
  policy = <<-EOT
    path "secret/data/ci/config" {
      capabilities = ["read"]
    }
  EOT
}

resource "nhi_identity" "ci_deploy" {
  name        = "ci-deploy"
  class       = "ci"
  owner       = "team-platform"
  environment = "prod"
  ttl_policy  = "ci-short"
  scopes      = [vault_policy.ci_read.name]
  bound_cidrs = ["10.20.0.0/16"]
}

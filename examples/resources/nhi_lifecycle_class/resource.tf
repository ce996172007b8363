# Ephemeral identities (CI jobs, containers): dynamic credentials with a short TTL, bounded
# renewal and a hard expiry. Every TTL policy of the class must fit under these ceilings.
resource "nhi_lifecycle_class" "ci" {
  name           = "ci"
  kind           = "ephemeral"
  description    = "CI jobs: one credential per job, gone when the job ends"
  max_ttl        = "1h"
  max_lifetime   = "4h"
  max_renewals   = 3
  require_owner  = true
  naming_pattern = "ci-[a-z0-9-]+"
  environments   = ["dev", "staging", "prod"]

  # Least privilege: scopes (on Vault, ACL policy names) must match allowed_scopes and none may
  # match denied_scopes; at most 3 per identity, bound to the CI network, and no more than 12
  # scope-hours of access reachable with one leaked credential (3 scopes x 4h, say).
  allowed_scopes   = ["ci-*", "read:*", "write:cache"]
  denied_scopes    = ["root", "*-admin"]
  max_scopes       = 3
  allowed_cidrs    = ["10.20.0.0/16"]
  max_blast_radius = 12
}

# Persistent identities (service accounts, integrations): a stable name for audit, a secret that
# is rotated at least every 90 days with every consumer known, and offboarding of accounts that
# nothing has used for 30 days (an `inactive` finding; last use needs the Vault engine's
# audit_log_path on Vault).
resource "nhi_lifecycle_class" "service" {
  name                  = "service"
  kind                  = "persistent"
  description           = "Long-lived service accounts and integrations"
  max_rotation_interval = "90d"
  require_owner         = true
  require_consumers     = true
  environments          = ["staging", "prod"]
  denied_scopes         = ["root", "*-admin"]
  max_blast_radius      = 2400 # one scope rotated every 90 days, with a day's window: 2209
  max_idle              = "30d"

  # Review and ownership: every identity is reviewed at least every 90 days (reviewed_at and
  # reviewed_by on the identity, moved by the pull request that attests the review), and its
  # owner must be an active nhi_owner.
  review_every             = "90d"
  require_registered_owner = true
}

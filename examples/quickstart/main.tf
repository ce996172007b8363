# Quick start: two lifecycle classes, a TTL policy and two identities on the embedded local
# engine. `make demo` runs it with a locally built provider; see the README.

terraform {
  required_version = ">= 1.11"
  required_providers {
    nhi = {
      source = "nhigov/nhi"
    }
  }
}

# With no engine block the provider uses the embedded local engine (NHI_LOCAL_PATH, or
# .nhi/engine.db under the working directory), unless VAULT_ADDR or BAO_ADDR is set: then it
# uses that Vault and warns.
provider "nhi" {}

variable "ci_ttl" {
  description = "TTL of CI credentials. The ci class allows at most 1h: try -var ci_ttl=90m."
  type        = string
  default     = "15m"
}

# Ephemeral workloads: dynamic credentials, short TTL, bounded renewal.
resource "nhi_lifecycle_class" "ci" {
  name           = "ci"
  kind           = "ephemeral"
  description    = "CI jobs: one credential per job, gone when the job ends"
  max_ttl        = "1h"
  max_lifetime   = "4h"
  max_renewals   = 3
  require_owner  = true
  naming_pattern = "ci-[a-z0-9-]+"
  environments   = ["dev", "prod"]
  # Scopes x the longest a leaked credential stays usable, in hours: ci-build's 2 scopes x 2h.
  max_blast_radius = 12
}

# Persistent accounts: stable name, secret rotated on schedule.
resource "nhi_lifecycle_class" "service" {
  name                  = "service"
  kind                  = "persistent"
  description           = "Long-lived service accounts and integrations"
  max_rotation_interval = "90d"
  require_owner         = true
  require_consumers     = true
  max_blast_radius      = 2400 # one scope rotated every 90 days, with a day's window: 2209
}

resource "nhi_ttl_policy" "ci" {
  name         = "ci-short"
  class        = nhi_lifecycle_class.ci.name
  ttl          = var.ci_ttl
  max_lifetime = "2h"
  renewable    = true
  max_renewals = 2
}

resource "nhi_identity" "build" {
  name        = "ci-build"
  class       = nhi_lifecycle_class.ci.name
  owner       = "team-platform"
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.ci.name
  scopes      = ["read:artifacts", "write:cache"]
}

resource "nhi_identity" "billing" {
  name        = "billing-sync"
  class       = nhi_lifecycle_class.service.name
  owner       = "team-billing"
  environment = "prod"
  description = "Nightly sync to the billing provider"
}

data "nhi_identities" "all" {
  depends_on = [nhi_identity.build, nhi_identity.billing]
}

output "identities" {
  description = "Every identity the engine holds."
  value       = [for i in data.nhi_identities.all.identities : "${i.name}: ${i.class}, owner ${i.owner}, ${i.status}"]
}

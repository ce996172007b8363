# Rotate the secret of the persistent identity billing-sync every 30 days, well within the
# `service` class's max_rotation_interval of 90d. The new secret is verified before it is
# promoted; the previous one stays valid for a day so every consumer can pick up the new one.
resource "nhi_rotation_schedule" "billing_sync" {
  identity      = "billing-sync"
  interval      = "30d"
  window        = "6h"
  overlap       = "24h"
  verify        = true
  keep_versions = 3

  # Every system that uses the secret: the class requires the list (require_consumers).
  consumers = [
    { name = "billing-api", kind = "service", note = "reads nhi_secret at deploy" },
    { name = "invoice-export", kind = "job", note = "nightly, reads the secret at start" },
  ]
}

# A weekly rotation at a fixed time (03:00 UTC every Monday), with secrets that stop working if
# a rotation is missed.
resource "nhi_rotation_schedule" "crm_integration" {
  identity         = "crm-integration"
  cron             = "0 3 * * 1"
  window           = "2h"
  overlap          = "1h"
  expire_unrotated = true

  consumers = [
    { name = "crm-vendor", kind = "vendor", note = "secret entered in the vendor console by team-sales-ops" },
  ]
}

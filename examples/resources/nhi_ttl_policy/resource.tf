# The default policy of CI jobs, within the ceilings of the `ci` class (max_ttl 1h,
# max_lifetime 4h, max_renewals 3).
resource "nhi_ttl_policy" "ci_short" {
  name         = "ci-short"
  class        = "ci"
  description  = "Ordinary CI jobs"
  ttl          = "15m"
  max_lifetime = "2h"
  renewable    = true
  max_renewals = 2
  max_uses     = 10
}

# A policy above the class's ceilings, allowed by an approved exception until it expires. Once
# expires_at has passed the policy is a violation again and `terraform plan` fails on it.
resource "nhi_ttl_policy" "ci_release" {
  name         = "ci-release"
  class        = "ci"
  description  = "Release builds that sign and upload artifacts for several hours"
  ttl          = "2h"
  max_lifetime = "6h"
  renewable    = true
  max_renewals = 2

  exception = {
    reason      = "Release signing runs up to 6h until the pipeline is split (PLAT-1234)"
    approved_by = "security-team"
    expires_at  = "2027-03-31T00:00:00Z"
  }
}

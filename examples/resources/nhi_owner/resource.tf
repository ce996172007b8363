# Owners as records: the teams and people accountable for identities. An identity names its
# owner in `owner`; a class with require_registered_owner accepts only active owners declared
# here.
resource "nhi_owner" "platform" {
  name    = "team-platform"
  kind    = "team"
  contact = "#platform-oncall"
}

# When a person leaves, mark them departed: the plan warns, naming every active identity they
# own, and each of those identities is an `owner-departed` finding (on nhi_identity and in
# nhi_drift_report) until it is reassigned or retired.
resource "nhi_owner" "alice" {
  name    = "alice"
  kind    = "person"
  contact = "alice@example.com"
  status  = "departed"
}

resource "nhi_lifecycle_class" "vendor" {
  name                     = "vendor"
  kind                     = "persistent"
  require_owner            = true
  require_registered_owner = true
}

resource "nhi_identity" "vendor_sync" {
  name  = "vendor-sync"
  class = nhi_lifecycle_class.vendor.name
  # A reference orders the two: the owner is written first and checked at apply.
  owner = nhi_owner.platform.name
}

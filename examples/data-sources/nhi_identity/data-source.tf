# Read one identity by name, whether or not this configuration manages it.
data "nhi_identity" "billing_sync" {
  name = "billing-sync"
}

output "billing_sync_owner" {
  value = data.nhi_identity.billing_sync.owner
}

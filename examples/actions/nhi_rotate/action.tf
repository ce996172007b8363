# Rotate the secret of billing-sync now, through its rotation schedule's verify and overlap:
#
#   terraform apply -invoke=action.nhi_rotate.billing
action "nhi_rotate" "billing" {
  config {
    identity = nhi_identity.billing.name
    reason   = "INC-4711: secret pasted in a support ticket"
  }
}

# Offboard legacy-sync at once: every credential revoked, the identity retired in the engine.
#
#   terraform apply -invoke=action.nhi_offboard.legacy_sync
#
# The next plan shows nhi_identity.legacy_sync retired; remove the resource from the
# configuration to finish.
action "nhi_offboard" "legacy_sync" {
  config {
    identity = nhi_identity.legacy_sync.name
    reason   = "vendor contract ended"
  }
}

# Revoke every credential of ci-build issued before the leak was found; the identity stays:
#
#   terraform apply -invoke=action.nhi_revoke_credentials.ci_build
action "nhi_revoke_credentials" "ci_build" {
  config {
    identity      = nhi_identity.ci_build.name
    issued_before = "2026-03-01T09:00:00Z"
    reason        = "INC-4712: build log with a token published"
  }
}

# Or revoke them whenever the identity's scopes change, as part of the apply that changes them.
resource "terraform_data" "ci_build_scopes" {
  input = nhi_identity.ci_build.scopes
  lifecycle {
    action_trigger {
      events  = [after_update]
      actions = [action.nhi_revoke_credentials.ci_build]
    }
  }
}

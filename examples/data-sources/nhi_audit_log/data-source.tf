# Who requested credentials for ci-build since the start of the month, and what became of them.
data "nhi_audit_log" "ci_build" {
  identity = "ci-build"
  since    = "2026-11-01T00:00:00Z"
}

output "ci_build_requests" {
  value = [for e in data.nhi_audit_log.ci_build.events : "${e.time} ${e.type} by ${e.requester}" if e.type == "issued"]
}

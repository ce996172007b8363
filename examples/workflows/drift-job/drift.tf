# The drift report and gate: a root module of its own, with no resources and no state to keep. It
# reads the fleet-wide drift report from the same engine as the fleet's configuration; with
# fail_on the plan fails ("Drift Report Failed") when a finding is at or above that severity.
#
#   terraform init && terraform plan -input=false   # the gate: exit 1 on high or critical findings
#   TF_VAR_fail_on= terraform apply -auto-approve   # the report (reads only), then:
#   terraform output -raw markdown                  # for the job summary
#   terraform output -raw sarif > nhi-drift.sarif   # for code scanning

terraform {
  required_version = ">= 1.11"
  required_providers {
    nhi = {
      source = "nhigov/nhi"
    }
  }
}

variable "vault_address" {
  description = "Vault or OpenBao address (the token comes from VAULT_TOKEN). Empty: the embedded local engine at NHI_LOCAL_PATH."
  type        = string
  default     = ""
}

variable "fail_on" {
  description = "Fail the plan on findings at or above this severity: low, medium, high or critical. Empty: never fail (the report step)."
  type        = string
  default     = "high"
}

variable "sarif_artifact_uri" {
  description = "A file in the repository that every SARIF result points at (GitHub code scanning needs one), such as the fleet's root module. Empty: logical locations only."
  type        = string
  default     = ""
}

provider "nhi" {
  dynamic "vault" {
    for_each = var.vault_address == "" ? [] : [var.vault_address]
    content {
      address = vault.value
    }
  }
}

data "nhi_drift_report" "gate" {
  fail_on            = var.fail_on == "" ? null : var.fail_on
  sarif_artifact_uri = var.sarif_artifact_uri == "" ? null : var.sarif_artifact_uri
}

output "findings" {
  description = "Every finding in the engine, one line each."
  value       = [for f in data.nhi_drift_report.gate.findings : "${f.severity} ${f.rule} ${f.subject}: ${f.observed} (allowed: ${f.allowed})"]
}

output "counts_by_severity" {
  description = "How many findings of each severity."
  value       = data.nhi_drift_report.gate.counts_by_severity
}

output "trust_debt_hours" {
  description = "Live credentials' age beyond their intended lifetime, overdue rotations and reviews, and idle time beyond max_idle, in hours."
  value       = data.nhi_drift_report.gate.trust_debt_hours
}

output "blast_radius" {
  description = "Scope-hours reachable with one leaked credential, summed over the fleet; identities with an unbounded exposure window are listed apart."
  value = {
    total     = data.nhi_drift_report.gate.blast_radius
    unbounded = data.nhi_drift_report.gate.unbounded_exposure
  }
}

# The two renderings are not secret; sensitive only keeps these pages of text out of the plan and
# apply logs. `terraform output -raw` prints them.
output "markdown" {
  description = "The report in Markdown, for the CI job summary or a pull-request comment."
  value       = data.nhi_drift_report.gate.markdown
  sensitive   = true
}

output "sarif" {
  description = "The report as SARIF 2.1.0, for code scanning."
  value       = data.nhi_drift_report.gate.sarif
  sensitive   = true
}

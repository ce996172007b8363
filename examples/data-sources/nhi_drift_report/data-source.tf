# A scheduled drift job for production: `terraform plan` fails when any finding of severity
# high or above exists, and the outputs show where the trust debt sits.
data "nhi_drift_report" "prod" {
  environment  = "prod"
  min_severity = "medium"
  fail_on      = "high"
}

output "trust_debt_hours" {
  value = data.nhi_drift_report.prod.trust_debt_hours
}

output "drift_findings" {
  value = [for f in data.nhi_drift_report.prod.findings : "${f.severity} ${f.rule} ${f.subject}: ${f.remedy}"]
}

# The same report for people and for code scanning (`terraform output -raw`): Markdown for a CI
# job summary or a pull-request comment, SARIF 2.1.0 for a code-scanning dashboard. GitHub code
# scanning anchors every alert to a file: sarif_artifact_uri names one in the repository.
data "nhi_drift_report" "all" {
  sarif_artifact_uri = "infra/nhi/main.tf"
}

output "drift_markdown" {
  value     = data.nhi_drift_report.all.markdown
  sensitive = true # not secret: keeps pages of text out of the plan log
}

output "drift_sarif" {
  value     = data.nhi_drift_report.all.sarif
  sensitive = true
}

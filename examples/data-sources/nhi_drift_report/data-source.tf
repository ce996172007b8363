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

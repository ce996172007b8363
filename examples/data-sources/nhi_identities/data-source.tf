# Every active identity of the `ci` class in production, managed by this configuration or not.
data "nhi_identities" "prod_ci" {
  class       = "ci"
  environment = "prod"
  status      = "active"
}

output "prod_ci_identities" {
  value = [for i in data.nhi_identities.prod_ci.identities : "${i.name} (owner ${i.owner})"]
}

# A PostgreSQL database whose logins are the credentials of the identities that name it. The
# admin password is write-only: it comes from an ephemeral variable (or an ephemeral resource)
# and never reaches state or plan. Move password_wo_version to store a new one.
variable "orders_db_admin_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "nhi_target" "orders_db" {
  name                = "orders-db"
  kind                = "postgresql"
  host                = "orders-db.internal"
  port                = 5432
  database            = "orders"
  sslmode             = "verify-full"
  username            = "nhi_admin"
  password_wo         = var.orders_db_admin_password
  password_wo_version = 1
}

# An ephemeral identity on the target: each nhi_credential is a PostgreSQL login granted exactly
# the role orders_read, valid until the credential's expires_at, dropped when the run ends.
resource "nhi_identity" "orders_report" {
  name        = "ci-orders-report"
  class       = "ci"
  owner       = "team-data"
  environment = "prod"
  ttl_policy  = "ci-short"
  target      = nhi_target.orders_db.name
  scopes      = ["orders_read"]
}

ephemeral "nhi_credential" "orders_report" {
  identity = nhi_identity.orders_report.name
  purpose  = "nightly orders report"
}

# The login and its password reach the PostgreSQL provider, itself ephemeral-aware, without
# touching state.
provider "postgresql" {
  host     = nhi_target.orders_db.host
  database = nhi_target.orders_db.database
  username = ephemeral.nhi_credential.orders_report.username
  password = ephemeral.nhi_credential.orders_report.value
}

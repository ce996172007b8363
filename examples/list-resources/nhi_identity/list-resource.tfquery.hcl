# terraform query -generate-config-out=generated.tf
list "nhi_identity" "prod_ci" {
  provider = nhi
  config {
    class       = "ci"
    environment = "prod"
    status      = "active"
  }
}

# Every identity, and on Vault also what the provider did not create (AppRole roles and
# entities without the provider's record), by name.
list "nhi_identity" "everything" {
  provider = nhi
  config {
    include_unmanaged = true
  }
}

terraform {
  required_version = ">= 1.11"
  required_providers {
    nhi = {
      source = "nhigov/nhi"
    }
  }
}

# The embedded local engine: one file, no setup. Without a `local` or `vault` block the
# provider uses it too, at NHI_LOCAL_PATH or .nhi/engine.db under the working directory.
provider "nhi" {
  local {
    path = ".nhi/engine.db"
  }
}

# HashiCorp Vault or OpenBao, the engine for real fleets. Use it instead of `local` (the two
# blocks conflict). The token comes from VAULT_TOKEN (or BAO_TOKEN) so it stays out of the
# configuration.
#
# provider "nhi" {
#   vault {
#     address = "https://vault.example.com:8200"
#     mount   = "nhi"
#   }
# }

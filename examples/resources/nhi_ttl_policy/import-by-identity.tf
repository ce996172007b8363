# Terraform 1.12 or later: import by the resource identity, as `terraform query` generates it.
import {
  to = nhi_ttl_policy.short
  identity = {
    name = "ci-short"
  }
}

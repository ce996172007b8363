# Terraform 1.12 or later: import by the resource identity, as `terraform query` generates it.
import {
  to = nhi_owner.platform
  identity = {
    name = "team-platform"
  }
}

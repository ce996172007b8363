# Terraform 1.12 or later: import by the resource identity, as `terraform query` generates it.
import {
  to = nhi_rotation_schedule.billing
  identity = {
    identity = "billing-sync"
  }
}

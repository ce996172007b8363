# Terraform 1.12 or later: import by the resource identity.
import {
  to = nhi_target.orders_db
  identity = {
    name = "orders-db"
  }
}

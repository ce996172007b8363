# A target is imported by its name; set password_wo and password_wo_version in the configuration
# afterwards if the engine should store a new admin password.
terraform import nhi_target.orders_db orders-db

# A rotation schedule is imported by the name of its identity.
terraform import nhi_rotation_schedule.billing_sync billing-sync

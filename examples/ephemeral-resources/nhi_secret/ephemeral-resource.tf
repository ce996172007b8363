# Consumers read the current rotated secret of a persistent identity. The value never reaches
# state; the schedule's current_version (not secret: it is in state) drives the write-only
# argument's version, so every rotation reaches the consumer on the apply that performs it.
ephemeral "nhi_secret" "billing" {
  identity = nhi_rotation_schedule.billing.id
}

resource "google_secret_manager_secret_version" "billing_api" {
  secret                 = google_secret_manager_secret.billing_api.id
  secret_data_wo         = ephemeral.nhi_secret.billing.value
  secret_data_wo_version = nhi_rotation_schedule.billing.current_version
}

# An owner is imported by its name.
terraform import nhi_owner.platform team-platform

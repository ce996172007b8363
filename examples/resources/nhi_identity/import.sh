# An identity is imported by its name.
terraform import nhi_identity.ci_build ci-build

# A lifecycle class is imported by its name.
terraform import nhi_lifecycle_class.ci ci

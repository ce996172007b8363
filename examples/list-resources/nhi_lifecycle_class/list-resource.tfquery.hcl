# terraform query -generate-config-out=generated.tf
list "nhi_lifecycle_class" "all" {
  provider = nhi
}

# terraform query -generate-config-out=generated.tf
list "nhi_rotation_schedule" "all" {
  provider = nhi
}

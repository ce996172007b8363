# terraform query -generate-config-out=generated.tf
list "nhi_owner" "all" {
  provider = nhi
}

# terraform query -generate-config-out=generated.tf
list "nhi_ttl_policy" "all" {
  provider = nhi
}

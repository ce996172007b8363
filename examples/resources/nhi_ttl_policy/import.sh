# A TTL policy is imported by its name.
terraform import nhi_ttl_policy.ci_short ci-short

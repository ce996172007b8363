package policy

import (
	"strings"
	"testing"
	"time"
)

func TestGrantCredential(t *testing.T) {
	tests := []struct {
		name    string
		p       TTLPolicy
		ttl     time.Duration
		want    Grant
		wantErr bool
	}{
		{"default ttl", TTLPolicy{TTL: time.Hour}, 0,
			Grant{TTL: time.Hour, Lifetime: time.Hour}, false},
		{"shorter ttl", TTLPolicy{TTL: time.Hour}, 10 * time.Minute,
			Grant{TTL: 10 * time.Minute, Lifetime: 10 * time.Minute}, false},
		{"ttl equal to policy", TTLPolicy{TTL: time.Hour}, time.Hour,
			Grant{TTL: time.Hour, Lifetime: time.Hour}, false},
		{"ttl above policy", TTLPolicy{Name: "ci-short", TTL: time.Hour}, time.Hour + time.Nanosecond, Grant{}, true},
		{"negative ttl", TTLPolicy{TTL: time.Hour}, -time.Minute, Grant{}, true},
		{"non-renewable ignores max_renewals", TTLPolicy{TTL: time.Hour, MaxRenewals: ptr(int64(5))}, 0,
			Grant{TTL: time.Hour, Lifetime: time.Hour}, false},
		{"uses", TTLPolicy{TTL: time.Hour, MaxUses: 3}, 0,
			Grant{TTL: time.Hour, Lifetime: time.Hour, MaxUses: 3}, false},
		{"renewable with max_renewals", TTLPolicy{TTL: time.Hour, Renewable: true, MaxRenewals: ptr(int64(3))}, 0,
			Grant{TTL: time.Hour, Lifetime: 4 * time.Hour, MaxRenewals: 3}, false},
		{"renewable with zero renewals", TTLPolicy{TTL: time.Hour, Renewable: true, MaxRenewals: ptr(int64(0))}, 0,
			Grant{TTL: time.Hour, Lifetime: time.Hour, MaxRenewals: 0}, false},
		{"renewable with lifetime", TTLPolicy{TTL: time.Hour, MaxLifetime: 12 * time.Hour, Renewable: true}, 0,
			Grant{TTL: time.Hour, Lifetime: 12 * time.Hour, MaxRenewals: -1}, false},
		{"renewable with lifetime and renewals", TTLPolicy{TTL: time.Hour, MaxLifetime: 12 * time.Hour, Renewable: true, MaxRenewals: ptr(int64(2)), MaxUses: 9}, 30 * time.Minute,
			Grant{TTL: 30 * time.Minute, Lifetime: 12 * time.Hour, MaxRenewals: 2, MaxUses: 9}, false},
		{"unbounded renewal falls back to one ttl", TTLPolicy{TTL: time.Hour, Renewable: true}, 20 * time.Minute,
			Grant{TTL: 20 * time.Minute, Lifetime: 20 * time.Minute, MaxRenewals: -1}, false},
		{"lifetime never below ttl", TTLPolicy{TTL: time.Hour, MaxLifetime: 30 * time.Minute, Renewable: true}, 0,
			Grant{TTL: time.Hour, Lifetime: time.Hour, MaxRenewals: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GrantCredential(tt.p, tt.ttl)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("GrantCredential = %+v, want an error", got)
				}
				if got != (Grant{}) {
					t.Errorf("GrantCredential returned %+v alongside its error", got)
				}
				if !strings.Contains(err.Error(), "ttl") {
					t.Errorf("error %q does not mention the ttl", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GrantCredential error: %v", err)
			}
			if got != tt.want {
				t.Errorf("GrantCredential = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("error names the policy and both ttls", func(t *testing.T) {
		_, err := GrantCredential(TTLPolicy{Name: "ci-short", TTL: time.Hour}, 2*time.Hour)
		if err == nil {
			t.Fatal("want an error")
		}
		for _, part := range []string{"ci-short", "2h", "1h"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not contain %q", err, part)
			}
		}
	})
}

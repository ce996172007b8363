package policy

import (
	"reflect"
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

func TestGrantIssue(t *testing.T) {
	now := testNow
	id := Identity{Name: "ci-build", Scopes: []string{"read:artifacts"}, BoundCIDRs: []string{"10.0.0.0/8"}}
	got := Grant{TTL: 15 * time.Minute, Lifetime: time.Hour, MaxRenewals: 2, MaxUses: 3}.Issue("cred-1", id, "pipeline-7", "tests", now)
	want := Credential{ID: "cred-1", Identity: "ci-build", IssuedAt: now, TTL: 15 * time.Minute, ExpiresAt: now.Add(15 * time.Minute),
		HardExpiresAt: now.Add(time.Hour), RenewalsLeft: 2, UsesLeft: 3, Requester: "pipeline-7", Purpose: "tests",
		Scopes: id.Scopes, BoundCIDRs: id.BoundCIDRs}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Issue = %+v, want %+v", got, want)
	}
	if uncapped := (Grant{TTL: time.Hour, Lifetime: time.Hour}).Issue("c", Identity{Name: "i"}, "", "", now); uncapped.UsesLeft != -1 {
		t.Fatalf("uncapped uses: UsesLeft = %d, want -1", uncapped.UsesLeft)
	}
}

// TestRenew covers every renewal the conformance suite exercises (testCredentialRenewal: two
// renewals within budget, the third refused) and the refusals around the hard expiry.
func TestRenew(t *testing.T) {
	now := testNow
	base := Credential{ID: "cred-1", IssuedAt: now.Add(-10 * time.Minute), TTL: 15 * time.Minute,
		ExpiresAt: now.Add(5 * time.Minute), HardExpiresAt: now.Add(50 * time.Minute), RenewalsLeft: 2, UsesLeft: -1}
	with := func(f func(*Credential)) Credential { c := base; f(&c); return c }
	tests := []struct {
		name    string
		c       Credential
		want    Credential
		wantErr string
	}{
		{"extends by ttl and spends a renewal", base,
			with(func(c *Credential) { c.ExpiresAt, c.RenewCount, c.RenewalsLeft = now.Add(15*time.Minute), 1, 1 }), ""},
		{"last renewal", with(func(c *Credential) { c.RenewalsLeft, c.RenewCount = 1, 1 }),
			with(func(c *Credential) { c.ExpiresAt, c.RenewCount, c.RenewalsLeft = now.Add(15*time.Minute), 2, 0 }), ""},
		{"uncapped count stays uncapped", with(func(c *Credential) { c.RenewalsLeft = -1 }),
			with(func(c *Credential) { c.ExpiresAt, c.RenewCount, c.RenewalsLeft = now.Add(15*time.Minute), 1, -1 }), ""},
		{"capped at the hard expiry", with(func(c *Credential) { c.HardExpiresAt = now.Add(10 * time.Minute) }),
			with(func(c *Credential) {
				c.HardExpiresAt, c.ExpiresAt, c.RenewCount, c.RenewalsLeft = now.Add(10*time.Minute), now.Add(10*time.Minute), 1, 1
			}), ""},
		{"no renewals left", with(func(c *Credential) { c.RenewalsLeft = 0 }), Credential{}, "no renewals left"},
		{"expired", with(func(c *Credential) { c.ExpiresAt = now }), Credential{}, "expired or revoked"},
		{"revoked", with(func(c *Credential) { c.RevokedAt = now.Add(-time.Minute) }), Credential{}, "expired or revoked"},
		{"already at its hard expiry", with(func(c *Credential) { c.HardExpiresAt = c.ExpiresAt }), Credential{}, "hard expiry"},
		{"no expiry but past its hard expiry", with(func(c *Credential) { c.ExpiresAt, c.HardExpiresAt = time.Time{}, now }), Credential{}, "hard expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Renew(tt.c, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "cred-1") {
					t.Fatalf("Renew error = %v, want one naming cred-1 and %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Renew = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestCredentialLive is the one definition of a live credential, which the engines (local
// engine's Authenticate, Vault's checkLive) and the drift rules share. A zero expiry is no
// expiry: live, so that drift reports it rather than hiding it (before, engine.Credential.Live
// called it dead and the drift rules called it live).
func TestCredentialLive(t *testing.T) {
	now := testNow
	tests := []struct {
		name          string
		c             Credential
		live, expired bool
	}{
		{"before expiry", Credential{ExpiresAt: now.Add(time.Second)}, true, false},
		{"at expiry", Credential{ExpiresAt: now}, false, true},
		{"past expiry", Credential{ExpiresAt: now.Add(-time.Hour)}, false, true},
		{"no expiry", Credential{}, true, false},
		{"revoked before expiry", Credential{ExpiresAt: now.Add(-time.Hour), RevokedAt: now.Add(-2 * time.Hour)}, false, false},
		{"revoked after expiry", Credential{ExpiresAt: now.Add(-time.Hour), RevokedAt: now.Add(-time.Minute)}, false, true},
		{"revoked, not yet expired", Credential{ExpiresAt: now.Add(time.Hour), RevokedAt: now.Add(-time.Minute)}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Live(now); got != tt.live {
				t.Errorf("Live = %v, want %v", got, tt.live)
			}
			if got := tt.c.Expired(now); got != tt.expired {
				t.Errorf("Expired = %v, want %v", got, tt.expired)
			}
		})
	}
}

package policy

import (
	"reflect"
	"testing"
	"time"
)

func TestIdentityDiff(t *testing.T) {
	base := Identity{Name: "ci-a", Class: "ci", Owner: "team", Environment: "dev", TTLPolicy: "short", Scopes: []string{"b", "a"}}
	engineSide := base
	engineSide.Status, engineSide.CreatedAt, engineSide.Scopes = StatusActive, time.Unix(1, 0), []string{"a", "b"}
	engineSide.LastUsedAt = time.Unix(2, 0)
	tests := []struct {
		name string
		want func(Identity) Identity
		diff []string
	}{
		{"same declaration, engine fields and scope order aside", func(i Identity) Identity { return i }, nil},
		{"owner differs", func(i Identity) Identity { i.Owner = "other"; return i },
			[]string{`owner: "team" in the engine, "other" declared`}},
		{"description only declared", func(i Identity) Identity { i.Description = "x"; return i },
			[]string{`description: unset in the engine, "x" declared`}},
		{"scope removed, environment unset", func(i Identity) Identity { i.Scopes, i.Environment = []string{"a"}, ""; return i },
			[]string{`environment: "dev" in the engine, unset declared`, `scopes: ["a","b"] in the engine, ["a"] declared`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IdentityDiff(engineSide, tt.want(base)); !reflect.DeepEqual(got, tt.diff) {
				t.Fatalf("IdentityDiff = %q, want %q", got, tt.diff)
			}
		})
	}
}

func TestDeclarationDiffGovernance(t *testing.T) {
	c := Class{Name: "ci", Kind: KindEphemeral, MaxTTL: time.Hour, Environments: []string{"dev"}}
	if d := DeclarationDiff(c, c); d != nil {
		t.Fatalf("a class differs from itself: %q", d)
	}
	d2 := c
	d2.MaxTTL, d2.RequireOwner = 2*time.Hour, true
	want := []string{`max_ttl: 1h in the engine, 2h declared`, `require_owner: unset in the engine, true declared`}
	if d := DeclarationDiff(c, d2); !reflect.DeepEqual(d, want) {
		t.Fatalf("DeclarationDiff = %q, want %q", d, want)
	}
}

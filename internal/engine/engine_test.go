package engine

import (
	"fmt"
	"testing"
	"time"
)

func TestOrderAuditEvents(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	ev := func(typ, identity, cred string, at time.Time) AuditEvent {
		return AuditEvent{Type: typ, Identity: identity, Credential: cred, Time: at}
	}
	tests := []struct {
		name string
		in   []AuditEvent
		want string
	}{
		{
			name: "credential events after the events recorded up to their instant",
			in: []AuditEvent{
				ev(EventIdentityCreated, "a", "", t0), ev(EventAction, "a", "", t1),
				ev(EventIssued, "a", "c1", t0), ev(EventRevoked, "a", "c1", t1),
			},
			want: "[identity_created/ issued/c1 action/ revoked/c1]",
		},
		{
			name: "revocations before the retirement of their identity at the same instant",
			in: []AuditEvent{
				ev(EventIdentityCreated, "a", "", t0), ev(EventIdentityRetired, "a", "", t1), ev(EventAdopted, "a", "", t1),
				ev(EventIssued, "a", "c1", t0), ev(EventRevoked, "a", "c1", t1),
			},
			want: "[identity_created/ issued/c1 revoked/c1 identity_retired/ adopted/]",
		},
		{
			name: "another identity's retirement does not move a revocation",
			in: []AuditEvent{
				ev(EventIdentityDeleted, "b", "", t1),
				ev(EventRevoked, "a", "c1", t1),
			},
			want: "[identity_deleted/ revoked/c1]",
		},
		{
			name: "at one instant, by identity, then as recorded",
			in: []AuditEvent{
				ev(EventIssued, "b", "c3", t0), ev(EventIssued, "a", "c1", t0), ev(EventRevoked, "a", "c1", t0),
				ev(EventIssued, "a", "c2", t0), ev(EventRenewed, "a", "c1", t1),
			},
			want: "[issued/c1 revoked/c1 issued/c2 issued/c3 renewed/c1]",
		},
		{
			name: "recorded events keep their order",
			in:   []AuditEvent{ev(EventIdentityUpdated, "a", "", t1), ev(EventIdentityCreated, "a", "", t0)},
			want: "[identity_updated/ identity_created/]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range OrderAuditEvents(tt.in) {
				got = append(got, e.Type+"/"+e.Credential)
			}
			if fmt.Sprint(got) != tt.want {
				t.Errorf("OrderAuditEvents = %v, want %s", got, tt.want)
			}
		})
	}
}

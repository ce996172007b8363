package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCheckLogins: each drift of a login is its finding, and RepairLogins repairs exactly the
// orphans (dropped) and the validity past the hard expiry (set back to it).
func TestCheckLogins(t *testing.T) {
	const drop, untilHard = "drop", "VALID UNTIL the hard expiry"
	now := testNow
	cred := Credential{ID: "c-1", Identity: "ci-db", IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute), HardExpiresAt: now.Add(time.Hour),
		Scopes: []string{"reader"}, Target: "db", Username: "nhi_ci-db_1"}
	revoked := cred
	revoked.RevokedAt = now
	login := LoginObservation{Target: "db", Name: "nhi_ci-db_1", Identity: "ci-db", Credential: "c-1", ValidUntil: cred.ExpiresAt, Roles: []string{"reader"}}
	with := func(f func(l *LoginObservation)) LoginObservation {
		l := login
		f(&l)
		return l
	}
	for _, tc := range []struct {
		name  string
		login LoginObservation
		creds []Credential
		want  []string
		// repair is what RepairLogins does to the login: nothing, drop it or set it back.
		repair string
	}{
		{"as made", login, []Credential{cred}, nil, ""},
		{"Vault's few seconds past the lease", with(func(l *LoginObservation) { l.ValidUntil = cred.HardExpiresAt.Add(5 * time.Second) }), []Credential{cred}, nil, ""},
		{"valid past the hard expiry", with(func(l *LoginObservation) { l.ValidUntil = cred.HardExpiresAt.Add(time.Hour) }), []Credential{cred},
			[]string{RuleLoginValidityAboveHard}, untilHard},
		{"infinity", with(func(l *LoginObservation) { l.Infinite = true }), []Credential{cred}, []string{RuleLoginValidityAboveHard}, untilHard},
		{"no VALID UNTIL", with(func(l *LoginObservation) { l.ValidUntil = time.Time{} }), []Credential{cred}, []string{RuleLoginValidityAboveHard}, untilHard},
		{"extra grant", with(func(l *LoginObservation) { l.Roles = []string{"admin", "reader"} }), []Credential{cred}, []string{RulePrivilegeEscalation}, ""},
		{"credential revoked", login, []Credential{revoked}, []string{RuleOrphanedLogin}, drop},
		{"credential unknown", login, nil, []string{RuleOrphanedLogin}, drop},
		{"same name on another target", with(func(l *LoginObservation) { l.Target = "other" }), []Credential{cred}, []string{RuleOrphanedLogin}, drop},
		{"rotated login holding the current secret", LoginObservation{Target: "db", Name: "nhi_ci-db", Identity: "ci-db", Rotated: true, PasswordMatches: true}, nil, nil, ""},
		{"rotated login whose password was changed", LoginObservation{Target: "db", Name: "nhi_ci-db", Identity: "ci-db", Rotated: true}, nil,
			[]string{RulePasswordChanged}, ""},
		{"infinite with an extra grant", with(func(l *LoginObservation) { l.Infinite, l.Roles = true, []string{"admin", "reader"} }), []Credential{cred},
			[]string{RuleLoginValidityAboveHard, RulePrivilegeEscalation}, untilHard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range checkLogins([]LoginObservation{tc.login}, tc.creds, nil, now) {
				got = append(got, f.Rule)
				if f.Subject != "identity/ci-db" || f.Object != "login/"+tc.login.Name || f.Severity != SeverityHigh {
					t.Errorf("finding %+v: want a high finding about identity/ci-db, login/%s", f, tc.login.Name)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules = %v, want %v", got, tc.want)
			}
			repairs := RepairLogins([]LoginObservation{tc.login}, tc.creds, now)
			var repair string
			switch {
			case len(repairs) > 1:
				t.Fatalf("RepairLogins = %+v: more than one repair of one login", repairs)
			case len(repairs) == 0:
			case repairs[0].Target != tc.login.Target || repairs[0].Name != tc.login.Name:
				t.Fatalf("RepairLogins = %+v: not the login observed", repairs)
			case repairs[0].Drop:
				repair = drop
			case repairs[0].ValidUntil.Equal(cred.HardExpiresAt):
				repair = untilHard
			default:
				repair = "VALID UNTIL " + repairs[0].ValidUntil.String()
			}
			if repair != tc.repair {
				t.Errorf("RepairLogins: %q, want %q", repair, tc.repair)
			}
		})
	}
}

// A rotated login whose password cannot be compared is a low finding that says why, with the
// remedy that fits the reason the engine gives: the local engine's admin user can be let read
// pg_authid; a verifier that is not SCRAM-SHA-256 was set outside the provider. (Vault checks by
// logging in, so it never gives one.)
func TestCheckLoginsUnchecked(t *testing.T) {
	for _, tc := range []struct {
		why                 PasswordUnchecked
		observed, remedy    string
		remedyMentionsAdmin bool
	}{
		{PasswordVerifierHidden, "admin user may not read password verifiers", "read pg_authid", true},
		{PasswordNotSCRAM, "not SCRAM-SHA-256", "rotate the secret", false},
		{"something new", "something new", "accept that this is not checked", false},
	} {
		got := checkLogins([]LoginObservation{{Target: "db", Name: "nhi_svc", Identity: "svc", Rotated: true, PasswordUnchecked: tc.why}}, nil, nil, testNow)
		if len(got) != 1 || got[0].Rule != RulePasswordUnchecked || got[0].Severity != SeverityLow ||
			!strings.Contains(got[0].Observed, "cannot be compared") || !strings.Contains(got[0].Observed, tc.observed) ||
			!strings.Contains(got[0].Remedy, tc.remedy) || strings.Contains(got[0].Remedy, "admin user") != tc.remedyMentionsAdmin {
			t.Errorf("%s: findings = %+v, want one low %s observing %q, remedy %q", tc.why, got, RulePasswordUnchecked, tc.observed, tc.remedy)
		}
	}
}

// The rotated secret's login (or group role) granted a role beyond its identity's scopes is a
// privilege escalation.
func TestCheckLoginsRotatedRoles(t *testing.T) {
	id := &Identity{Name: "svc", Scopes: []string{"reader"}}
	l := LoginObservation{Target: "db", Name: "nhi_svc", Identity: "svc", Rotated: true, PasswordMatches: true,
		RolesHolder: "nhi_svc", Roles: []string{"admin", "reader"}}
	got := checkLogins([]LoginObservation{l}, nil, map[string]*Identity{"svc": id}, testNow)
	if len(got) != 1 || got[0].Rule != RulePrivilegeEscalation || !strings.Contains(got[0].Observed, "admin") {
		t.Fatalf("findings = %+v, want one privilege-escalation naming admin", got)
	}
	l.Roles = []string{"reader"}
	if got := checkLogins([]LoginObservation{l}, nil, map[string]*Identity{"svc": id}, testNow); len(got) != 0 {
		t.Fatalf("findings for exactly the scopes = %+v, want none", got)
	}
}

// An unreachable target is a medium target-unchecked finding: about the identity observed, or,
// in the fleet's report, about each active identity on that target.
func TestCheckLoginsTargetUnchecked(t *testing.T) {
	ids := map[string]*Identity{"a": {Name: "a", Target: "db"}, "b": {Name: "b", Target: "db"}, "c": {Name: "c", Target: "other"},
		"d": {Name: "d", Target: "db", Status: StatusRetired}}
	for _, tc := range []struct {
		identity string
		want     []string
	}{{"a", []string{"identity/a"}}, {"", []string{"identity/a", "identity/b"}}} {
		got := checkLogins([]LoginObservation{{Target: "db", Identity: tc.identity, Unchecked: "connection refused"}}, nil, ids, testNow)
		var subjects []string
		for _, f := range got {
			if f.Rule != RuleTargetUnchecked || f.Severity != SeverityMedium || f.Object != "target/db" || !strings.Contains(f.Observed, "connection refused") {
				t.Errorf("finding %+v: want a medium %s about target/db saying why", f, RuleTargetUnchecked)
			}
			subjects = append(subjects, f.Subject)
		}
		if !slices.Equal(subjects, tc.want) {
			t.Errorf("identity %q: subjects %v, want %v", tc.identity, subjects, tc.want)
		}
	}
}

// An alternating login may hold its group role only: another role granted to it is a
// privilege escalation naming that role.
func TestCheckLoginsMember(t *testing.T) {
	l := LoginObservation{Target: "db", Name: "nhi_svc_1a2b3c4d_a", Identity: "svc", Member: true, RolesHolder: "nhi_svc_1a2b3c4d",
		Roles: []string{"nhi_svc_1a2b3c4d", "pg_write_all_data"}}
	got := checkLogins([]LoginObservation{l}, nil, nil, testNow)
	if len(got) != 1 || got[0].Rule != RulePrivilegeEscalation || got[0].Severity != SeverityHigh || got[0].OWASP != "NHI5" ||
		got[0].Object != "login/"+l.Name || !strings.Contains(got[0].Observed, "pg_write_all_data") {
		t.Fatalf("findings = %+v, want one high privilege-escalation on login/%s naming pg_write_all_data", got, l.Name)
	}
	l.Roles = []string{"nhi_svc_1a2b3c4d"}
	if got := checkLogins([]LoginObservation{l}, nil, nil, testNow); len(got) != 0 {
		t.Fatalf("findings for the group role only = %+v, want none", got)
	}
}

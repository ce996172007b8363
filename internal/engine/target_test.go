package engine

import "testing"

// A login comment reads back as what it was made with: a credential's own login names the
// credential; a login of a Vault dynamic role, shared by many credentials, names none. Comments
// of inspector and rotated logins, and others, are no credential's.
func TestParseLoginComment(t *testing.T) {
	for _, tc := range []struct {
		comment                 string
		owner, identity, credID string
		ok                      bool
	}{
		{LoginComment("local /x.db", "ci-db", "cred-1"), "local /x.db", "ci-db", "cred-1", true},
		{LoginComment("vault nhi", "ci-db", ""), "vault nhi", "ci-db", "", true},
		{loginCommentPrefix + "vault nhi: identity ci-db, credential ", "", "", "", false},
		{InspectorLoginComment("vault nhi", "db"), "", "", "", false},
		{RotatedLoginComment("vault nhi", "svc"), "", "", "", false},
		{"made by hand", "", "", "", false},
	} {
		owner, identity, credID, ok := ParseLoginComment(tc.comment)
		if ok != tc.ok || (ok && (owner != tc.owner || identity != tc.identity || credID != tc.credID)) {
			t.Errorf("ParseLoginComment(%q) = %q, %q, %q, %v; want %q, %q, %q, %v", tc.comment, owner, identity, credID, ok, tc.owner, tc.identity, tc.credID, tc.ok)
		}
	}
}

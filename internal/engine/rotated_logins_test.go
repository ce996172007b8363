package engine

import "testing"

// TestRotatedLoginNamesApart: identity names that fold to the same login text stay apart, and
// no identity's rotated login is another's alternating login.
func TestRotatedLoginNamesApart(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"App.svc", "app_svc", "APP_SVC", "x", "x_a", "x_b"} {
		base := RotatedLoginName(id)
		for _, l := range []string{base, base + "_a", base + "_b"} {
			if other, ok := seen[l]; ok {
				t.Fatalf("login %q of %q is also one of %q", l, id, other)
			}
			seen[l] = id
		}
		if len(base)+2 > 63 {
			t.Fatalf("RotatedLoginName(%q) = %q leaves no room for _a/_b", id, base)
		}
	}
}

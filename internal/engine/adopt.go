package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// An apply killed half way leaves records that the engine wrote and Terraform never stored in
// state. The next apply creates them again; a create adopts a record this provider made that is
// exactly what it declares, and refuses anything else with an ExistsError, which the provider
// turns into a plan-time error naming the import to run.

// ExistsError says that a create's name is taken, by what, and why it cannot be adopted. It
// matches ErrConflict.
type ExistsError struct {
	// Kind and Name name the record: "identity", "ci-build".
	Kind, Name string
	// What says what holds the name and why it is not adoptable.
	What string
	// Importable is true when `terraform import` of Name brings the existing record under
	// management (false when something this provider did not make holds the name).
	Importable bool
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s %q already exists in the engine: %s", e.Kind, e.Name, e.What)
}

// Is makes an ExistsError match ErrConflict.
func (e *ExistsError) Is(target error) bool { return target == ErrConflict }

// Adoptable decides whether a create of want may adopt have, the record of the same name that
// the engine holds: nil when have is exactly what want declares, otherwise an ExistsError that
// lists the differences. kind names the record type ("lifecycle class").
func Adoptable(kind, name string, have, want any) error {
	if diff := policy.DeclarationDiff(have, want); len(diff) > 0 {
		return &ExistsError{Kind: kind, Name: name, Importable: true,
			What: "it differs from this declaration (" + strings.Join(diff, "; ") + ")"}
	}
	return nil
}

// AdoptableIdentity is Adoptable for identities: a retired identity is never adopted (its name
// is kept for audit and never reused), and only declared attributes count.
func AdoptableIdentity(have, want policy.Identity) error {
	if have.Retired() {
		return &ExistsError{Kind: KindIdentity, Name: want.Name, Importable: true,
			What: fmt.Sprintf("it was retired at %s, and a retired identity keeps its name for audit: the name is never reused",
				have.RetiredAt.UTC().Format(time.RFC3339))}
	}
	if diff := policy.IdentityDiff(have, want); len(diff) > 0 {
		return &ExistsError{Kind: KindIdentity, Name: want.Name, Importable: true,
			What: "it is active and differs from this declaration (" + strings.Join(diff, "; ") + ")"}
	}
	return nil
}

// Record kinds, as messages and audit events name them.
const (
	KindIdentity         = "identity"
	KindClass            = "lifecycle class"
	KindTTLPolicy        = "TTL policy"
	KindRotationSchedule = "rotation schedule"
	KindOwner            = "owner"
)

// AdoptedEvent is the audit event of an adoption. A rotation schedule is keyed by its identity,
// so its event is filed under that identity, like an identity's own.
func AdoptedEvent(kind, name string) AuditEvent {
	identity := ""
	if kind == KindIdentity || kind == KindRotationSchedule {
		identity = name
	}
	return AuditEvent{Type: EventAdopted, Identity: identity,
		Detail: fmt.Sprintf("adopted %s %s: a create found it in the engine exactly as declared (left by an interrupted apply)", kind, name)}
}

package engine

import "fmt"

// EventAction: an operator invoked a day-2 action on an identity (the Terraform actions
// nhi_rotate, nhi_revoke_credentials and nhi_offboard). It is recorded before the action acts,
// with who asked and why; the events of what the action did follow it.
const EventAction = "action"

// ActionEvent is the audit event that opens a run of action on identity, requested by requester;
// detail says why and with what options.
func ActionEvent(action, identity, requester, detail string) AuditEvent {
	return AuditEvent{Type: EventAction, Identity: identity, Requester: requester, Purpose: action,
		Detail: fmt.Sprintf("%s invoked: %s", action, detail)}
}

package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// An apply killed half way leaves records in the engine that Terraform never stored in state;
// the next plan creates them again. A create adopts a record exactly as declared (the engine's
// rule: engine.Adoptable) and the plan says so in a warning; anything else holding the name
// fails the plan on the naming attribute, with the import to run.

// createdName returns the name a plan creates an object under: the planned value of attr when
// the plan creates the resource, or replaces it under another name. ok is false otherwise, and
// while the name is unknown.
func createdName(ctx context.Context, req resource.ModifyPlanRequest, attr path.Path, diags *diag.Diagnostics) (name string, ok bool) {
	var planned, prior types.String
	diags.Append(req.Plan.GetAttribute(ctx, attr, &planned)...)
	if planned.IsNull() || planned.IsUnknown() || diags.HasError() {
		return "", false
	}
	if !req.State.Raw.IsNull() {
		diags.Append(req.State.GetAttribute(ctx, attr, &prior)...)
		if prior.Equal(planned) {
			return "", false
		}
	}
	return planned.ValueString(), true
}

// planAdoption reports, in the plan that creates an object, what the engine holds under its
// name: nothing; a record this apply adopts (a warning on attr); or a record it cannot adopt
// (an error on attr, see addNameTaken).
func planAdoption(diags *diag.Diagnostics, attr path.Path, kind, name string, err error) {
	if err != nil {
		addNameTaken(diags, attr, err)
		return
	}
	diags.AddAttributeWarning(attr, "Existing "+titleKind(kind)+" Will Be Adopted",
		fmt.Sprintf("The engine already holds %s %q exactly as declared: an earlier apply created it and was interrupted before Terraform recorded it. "+
			"This apply adopts it instead of creating it again, and the engine's audit log records the adoption.", kind, name))
}

// checkCreate is planAdoption for a governance record: it reads the record of that name and
// compares it with want.
func checkCreate[T any](ctx context.Context, diags *diag.Diagnostics, attr path.Path, kind, name string, want T,
	get func(context.Context, string) (T, error)) {
	have, err := get(ctx, name)
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read %s %q", kind, name), err)
	default:
		planAdoption(diags, attr, kind, name, engine.Adoptable(kind, name, have, want))
	}
}

// putOrAdopt creates a governance record with put, or adopts the record of that name when it is
// exactly as declared: it is written again (which finishes what an interrupted put left undone,
// such as the roles a Vault TTL policy rewrites) and the adoption is audited.
func putOrAdopt[T any](ctx context.Context, e engine.Engine, kind, name string, want T,
	get func(context.Context, string) (T, error), put func(context.Context, T) error) error {
	have, err := get(ctx, name)
	if errors.Is(err, engine.ErrNotFound) {
		return put(ctx, want)
	}
	if err == nil {
		err = engine.Adoptable(kind, name, have, want)
	}
	if err == nil {
		err = put(ctx, want)
	}
	if err == nil {
		err = e.RecordAdoption(ctx, kind, name)
	}
	return err
}

// addNameTaken reports a create's name taken in the engine as an error on attr; any other
// engine error goes through addEngineError.
func addNameTaken(diags *diag.Diagnostics, attr path.Path, err error) {
	var exists *engine.ExistsError
	if !errors.As(err, &exists) {
		addEngineError(diags, "check the name in the engine", err)
		return
	}
	diags.AddAttributeError(attr, titleKind(exists.Kind)+" Already Exists", existsDetail(exists))
}

// existsDetail says what holds a name and, when the record is this provider's, how to import it.
func existsDetail(e *engine.ExistsError) string {
	detail := e.Error() + "."
	if !e.Importable {
		return detail
	}
	rt := resourceTypeOf[e.Kind]
	return detail + fmt.Sprintf(` Nothing was changed. To manage that %[1]s with this resource, import it and plan again (the plan then shows the changes that bring it to this declaration):

  terraform import %[2]s.<resource name> %[3]s

or, with Terraform 1.5 or later, add an import block and plan:

  import {
    to = %[2]s.<resource name>
    id = %[4]q
  }

where %[2]s.<resource name> is the address of this resource. Otherwise choose another name.`, e.Kind, rt, e.Name, e.Name)
}

// resourceTypeOf is the resource type that manages each kind of engine record.
var resourceTypeOf = map[string]string{
	engine.KindIdentity:         "nhi_identity",
	engine.KindClass:            "nhi_lifecycle_class",
	engine.KindTTLPolicy:        "nhi_ttl_policy",
	engine.KindRotationSchedule: "nhi_rotation_schedule",
	engine.KindOwner:            "nhi_owner",
}

func titleKind(kind string) string {
	switch kind {
	case engine.KindIdentity:
		return "Identity"
	case engine.KindClass:
		return "Lifecycle Class"
	case engine.KindTTLPolicy:
		return "TTL Policy"
	case engine.KindRotationSchedule:
		return "Rotation Schedule"
	case engine.KindOwner:
		return "Owner"
	}
	return kind
}

package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// addEngineError maps an engine error to a diagnostic, in one place for every component.
// action is what was attempted, e.g. "create identity \"ci-build\"".
func addEngineError(diags *diag.Diagnostics, action string, err error) {
	var exists *engine.ExistsError
	if errors.As(err, &exists) {
		diags.AddError(titleKind(exists.Kind)+" Already Exists", fmt.Sprintf("Could not %s: %s", action, existsDetail(exists)))
		return
	}
	summary, hint := "Engine Error", ""
	for _, e := range engineErrors {
		if errors.Is(err, e.err) {
			summary, hint = e.summary, e.hint
			break
		}
	}
	diags.AddError(summary, fmt.Sprintf("Could not %s: %v.%s", action, err, hint))
}

// engineErrors gives each typed engine error its diagnostic summary, and a hint where one helps;
// the first that matches counts.
var engineErrors = []struct {
	err           error
	summary, hint string
}{
	{engine.ErrUnavailable, "Engine Unavailable", " Check that the engine is reachable and not locked by another run, then retry."},
	{engine.ErrNotFound, "Object Not Found", ""},
	{engine.ErrConflict, "Conflict in the Engine", ""},
	{engine.ErrRetired, "Identity Retired", " A retired identity is kept for audit and cannot be used or changed."},
	{engine.ErrDenied, "Request Denied", ""},
	{engine.ErrInvalid, "Invalid Request", ""},
}

// addFindings reports policy findings as error diagnostics on their attributes.
func addFindings(diags *diag.Diagnostics, findings []policy.Finding) {
	reportFindings(findings, diags.AddError, diags.AddAttributeError)
}

// warnFindings reports policy findings as warning diagnostics on their attributes: what a plan
// tells its reviewer without failing (a review falling due, an owner who departed).
func warnFindings(diags *diag.Diagnostics, findings []policy.Finding) {
	reportFindings(findings, diags.AddWarning, diags.AddAttributeWarning)
}

func reportFindings(findings []policy.Finding, add func(summary, detail string), addAt func(p path.Path, summary, detail string)) {
	for _, f := range findings {
		if p := attributePath(f.Attribute); p.Equal(path.Empty()) {
			add(f.Title(), f.Message())
		} else {
			addAt(p, f.Title(), f.Message())
		}
	}
}

// attributePath turns a finding's dotted attribute ("exception.reason") into a path.
func attributePath(dotted string) path.Path {
	if dotted == "" {
		return path.Empty()
	}
	parts := strings.Split(dotted, ".")
	p := path.Root(parts[0])
	for _, part := range parts[1:] {
		p = p.AtName(part)
	}
	return p
}

// planGetter and stateSetter are the parts of tfsdk.Plan and tfsdk.State that shared create and
// update code needs.
type planGetter interface {
	Get(ctx context.Context, target any) diag.Diagnostics
}

type stateSetter interface {
	Set(ctx context.Context, val any) diag.Diagnostics
}

// unchanged reports whether a plan leaves an existing resource as it is. Plan-time checks against
// other objects skip unchanged resources: the engine may hold another object that this same plan
// restores (drift), and such findings belong to drift reports; the resource's own rules, time
// ones included, still run.
func unchanged(req resource.ModifyPlanRequest) bool {
	return !req.State.Raw.IsNull() && req.Plan.Raw.Equal(req.State.Raw)
}

// readFound runs get for a Read and maps its errors in one place: an object gone from the engine
// removes the resource from state (the next plan creates it again), any other error is a
// diagnostic. It returns false in both cases.
func readFound[T any](ctx context.Context, resp *resource.ReadResponse, what, name string, get func(context.Context, string) (T, error)) (T, bool) {
	v, err := get(ctx, name)
	if errors.Is(err, engine.ErrNotFound) {
		tflog.Warn(ctx, what+" is gone from the engine; removing it from state", map[string]any{"name": name})
		resp.State.RemoveResource(ctx)
		return v, false
	}
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("read %s %q", what, name), err)
		return v, false
	}
	return v, true
}

// deleteRecord is the Delete of a governance record's resource: del of the state's `name` (see
// deleted); kind names it in messages.
func deleteRecord(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse, kind string, del func(context.Context, string) error) {
	var name types.String
	resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("name"), &name)...)
	if resp.Diagnostics.HasError() {
		return
	}
	deleted(&resp.Diagnostics, fmt.Sprintf("delete %s %q", kind, name.ValueString()), del(ctx, name.ValueString()))
}

// deleted reports a Delete's engine error and whether the object is gone: an object that was
// already gone is success. action says what was attempted, e.g. "delete TTL policy \"x\"".
func deleted(diags *diag.Diagnostics, action string, err error) bool {
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		addEngineError(diags, action, err)
		return false
	}
	return true
}

// warnNotInEngine warns at plan that attribute names, literally, an object the engine does not
// hold. The apply fails unless this plan creates the object; a reference (ref, such as
// nhi_lifecycle_class.ci.name) would make Terraform create it first and run the check in order.
func warnNotInEngine(diags *diag.Diagnostics, attribute, kind, name, ref string) {
	diags.AddAttributeWarning(path.Root(attribute), "Referenced Object Not In Engine",
		fmt.Sprintf("%s = %q: the engine holds no %s %q, so the apply will fail unless this plan creates it. If this plan creates it, "+
			"reference it instead of naming it (%s = %s) so that Terraform creates it first and the plan checks against it.",
			attribute, name, kind, name, attribute, ref))
}

// validationTime is the time ValidateConfig checks at: the provider's clock once configured,
// else the zero time, at which no exception has expired and nothing is due (`terraform validate`
// configures no provider; the plan checks again on the clock).
func validationTime(data *providerData) time.Time {
	if data == nil {
		return time.Time{}
	}
	return data.clock.Now()
}

package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ managedResource = (*identityResource)(nil)

// What happens to an identity's record when its resource is destroyed.
const (
	onDestroyRetire = "retire"
	onDestroyDelete = "delete"
)

// NewIdentityResource returns the nhi_identity resource.
func NewIdentityResource() resource.Resource {
	return &identityResource{resourceBase{typeName: "identity", key: "name", keyDescription: "The identity name."}}
}

type identityResource struct {
	resourceBase
}

type identityModel struct {
	identityAttrs
	OnDestroy      types.String    `tfsdk:"on_destroy"`
	Findings       types.List      `tfsdk:"findings"`
	TrustDebtHours types.Float64   `tfsdk:"trust_debt_hours"`
	EngineDrift    types.List      `tfsdk:"engine_drift"`
	Exception      *exceptionModel `tfsdk:"exception"`
}

// identityAttrs are the attributes an identity has in the resource and in data sources alike.
type identityAttrs struct {
	keyedByName
	Class       types.String      `tfsdk:"class"`
	Owner       types.String      `tfsdk:"owner"`
	Environment types.String      `tfsdk:"environment"`
	TTLPolicy   types.String      `tfsdk:"ttl_policy"`
	Description types.String      `tfsdk:"description"`
	Scopes      types.Set         `tfsdk:"scopes"`
	BoundCIDRs  types.Set         `tfsdk:"bound_cidrs"`
	Target      types.String      `tfsdk:"target"`
	Status      types.String      `tfsdk:"status"`
	CreatedAt   timetypes.RFC3339 `tfsdk:"created_at"`
	RetiredAt   timetypes.RFC3339 `tfsdk:"retired_at"`
	LastUsedAt  timetypes.RFC3339 `tfsdk:"last_used_at"`
	ReviewedAt  timestampValue    `tfsdk:"reviewed_at"`
	ReviewedBy  types.String      `tfsdk:"reviewed_by"`
}

func (r *identityResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("identity_resource"),
		Attributes: map[string]schema.Attribute{
			"id":   idAttribute("The identity name."),
			"name": nameAttribute("Stable name of the identity, checked against the class's `naming_pattern`. Changing it replaces the identity."),
			"class": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name of the identity's `nhi_lifecycle_class`.",
				Validators:          []validator.String{nameValidator},
			},
			"owner": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Team or person accountable for the identity. Required when the class sets `require_owner`.",
				Validators:          []validator.String{nonEmptyValidator},
			},
			"environment": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Environment the identity lives in, such as `prod`; must be one the class allows.",
				Validators:          []validator.String{nonEmptyValidator},
			},
			"ttl_policy": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Name of the `nhi_ttl_policy` for the identity's dynamic credentials. Required for ephemeral classes, not allowed for persistent ones.",
				Validators:          []validator.String{nameValidator},
			},
			"description": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "What the identity does.",
			},
			"scopes": schema.SetAttribute{
				ElementType: types.StringType,
				Optional:    true,
				MarkdownDescription: "Privileges the engine grants the identity's credentials, bounded by the class's " +
					"`allowed_scopes`, `denied_scopes` and `max_scopes`. On Vault each scope is the name of an ACL policy, set " +
					"as the AppRole role's `token_policies` with `token_no_default_policy`, so a token carries exactly these " +
					"policies (list `default` to keep Vault's default policy, which lets a token look up, renew and revoke " +
					"itself). Every scope must name an existing Vault policy: a missing one is a plan warning and an apply " +
					"error. On the local engine a credential carries the scopes its identity held when it was issued. A " +
					"privilege added in the engine outside Terraform is a " +
					"high `privilege-escalation` finding, and the next apply removes it.",
				Validators: []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(scopeValidator)},
			},
			"bound_cidrs": schema.SetAttribute{
				ElementType: types.StringType,
				Optional:    true,
				MarkdownDescription: "Networks, as CIDR blocks, the identity's credentials may be used from. (Vault: the role's " +
					"`token_bound_cidrs` and `secret_id_bound_cidrs`; the provider itself logs in for each `nhi_credential`, so on " +
					"Vault it must run inside these networks too. Local engine: checked against the caller's address.) Must sit " +
					"within the class's `allowed_cidrs`. Unset: any address.",
				Validators: []validator.Set{setvalidator.SizeAtLeast(1), setvalidator.ValueStringsAre(cidrValidator)},
			},
			"target": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Name of the `nhi_target` where the identity's credentials are logins. Its `scopes` are then the " +
					"target's roles (PostgreSQL roles) that each login is granted, exactly, under the class's scope rules; an " +
					"`nhi_credential` returns the login's `username` and its password as `value`, valid until `expires_at`. " +
					"Unset: the engine's own credentials. The local engine makes the logins itself; Vault makes them through " +
					"dynamic roles of the identity in its database secrets engine (one per distinct terms: scopes, TTL; kept " +
					"until the identity is retired or deleted), as leases. A scope that is a privileged " +
					"PostgreSQL role (`SUPERUSER`, `CREATEROLE`, `CREATEDB`, `REPLICATION` or `BYPASSRLS`, or a member of such a " +
					"role) is refused whenever a login or group role would be granted it (issue, rotation, update), with an error " +
					"naming it, on both engines; the plan does not check it, since that needs the target.",
				Validators: []validator.String{nameValidator},
			},
			"exception": exceptionAttribute("identity exceed its class's privilege ceilings (`allowed_scopes`, " +
				"`denied_scopes`, `max_scopes`, `allowed_cidrs`, `max_blast_radius`)"),
			"reviewed_at": schema.StringAttribute{
				CustomType: timestampType{},
				Optional:   true,
				MarkdownDescription: "When the identity was last reviewed, as an RFC 3339 timestamp such as `2026-03-31T00:00:00Z`. " +
					"The pull request that moves it is the attestation: its plan shows the change to the reviewer. It may not lie " +
					"in the future. Under a class with `review_every` the next review falls due that long after it (after the " +
					"identity's creation while unset); the plan warns 14 days before, and an overdue review is a `review-overdue` " +
					"finding. Stored in the engine's identity record, so drift reports see it without Terraform state.",
			},
			"reviewed_by": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "Who last reviewed the identity. Required when the class sets `review_every`.",
				Validators:          []validator.String{nonEmptyValidator},
			},
			"on_destroy": schema.StringAttribute{
				Optional: true,
				Computed: true,
				Default:  stringdefault.StaticString(onDestroyRetire),
				MarkdownDescription: "What destroying the resource does: `retire` (the default) revokes every credential and keeps a " +
					"disabled record for audit; `delete` revokes every credential and removes the record.",
				Validators: []validator.String{stringvalidator.OneOf(onDestroyRetire, onDestroyDelete)},
			},
			"status": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "`active`, or `retired` once retired; `unmanaged` after importing an identity this provider did not create, until the next apply adopts it.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"created_at": schema.StringAttribute{
				CustomType:          timetypes.RFC3339Type{},
				Computed:            true,
				MarkdownDescription: "When the engine created the identity (RFC 3339).",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"retired_at": schema.StringAttribute{
				CustomType:          timetypes.RFC3339Type{},
				Computed:            true,
				MarkdownDescription: "When the identity was retired (RFC 3339); null while active.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"last_used_at": schema.StringAttribute{
				CustomType: timetypes.RFC3339Type{},
				Computed:   true,
				// No UseStateForUnknown: use moves it between plan and apply.
				MarkdownDescription: lastUsedAtDescription + " It moves with use, so `terraform plan -refresh-only` shows it changing.",
			},
			"findings": schema.ListNestedAttribute{
				Computed: true,
				MarkdownDescription: "What the policy finds about the identity as the engine holds it, as of the last refresh: " +
					"credentials past their caps, renewals past budget, an overdue rotation, live credentials after retirement, " +
					"inactivity past the class's `max_idle` (`inactive`), an overdue review, a departed owner, and the class rules. A change shows in `terraform plan -refresh-only`, so a drift job with " +
					"`-detailed-exitcode` exits 2 when behaviour drifts.",
				NestedObject: schema.NestedAttributeObject{Attributes: findingResourceAttributes()},
			},
			"engine_drift": schema.ListAttribute{
				ElementType: types.StringType,
				Computed:    true,
				MarkdownDescription: "Where what the engine enforces differs from the declaration, one line each, as of the last " +
					"refresh (for example a Vault role's `token_explicit_max_ttl` raised by hand). When it is not empty the plan " +
					"shows an update that restores the declared settings.",
			},
			"trust_debt_hours": schema.Float64Attribute{
				Computed:            true,
				MarkdownDescription: "The identity's trust debt in hours, as of the last refresh: its live credentials' age beyond their intended lifetime, plus how overdue its rotation and its review are, plus its idle time beyond its class's `max_idle`.",
			},
		},
	}
}

func findingResourceAttributes() map[string]schema.Attribute {
	out := map[string]schema.Attribute{}
	for name, desc := range findingAttributes {
		out[name] = schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	}
	return out
}

// observe evaluates the drift rules on id, the identity as the engine just returned it, with
// the records around it. The identity itself is already written when this runs, so a failure to
// observe it is a warning, not an error that would taint a created identity (whose retired name
// could then never be reused).
func (r *identityResource) observe(ctx context.Context, id policy.Identity, m *identityModel, diags *diag.Diagnostics) {
	fleet, err := engine.ObserveIdentity(ctx, r.data.engine, id, r.data.clock.Now())
	r.setFindings(ctx, fleet, err, m, diags)
}

// setFindings sets the findings and trust debt of m from fleet, the observation of m's
// identity; err is the observation's failure, a warning.
func (r *identityResource) setFindings(ctx context.Context, fleet policy.Fleet, err error, m *identityModel, diags *diag.Diagnostics) {
	findings := []findingModel{}
	m.TrustDebtHours = types.Float64Value(0)
	if err != nil {
		diags.AddWarning("Unable to Observe Identity",
			fmt.Sprintf("Identity %q is written, but its findings could not be read (%v); the next refresh reads them again.", m.Name.ValueString(), err))
	}
	report := policy.Drift(fleet)
	for _, f := range report.About(m.Name.ValueString()) {
		findings = append(findings, newFindingModel(f))
	}
	var d diag.Diagnostics
	m.Findings, d = types.ListValueFrom(ctx, types.ObjectType{AttrTypes: findingAttrTypes()}, findings)
	diags.Append(d...)
	m.TrustDebtHours = types.Float64Value(report.TrustDebt[m.Name.ValueString()].Hours())
}

func (m identityModel) toPolicy(ctx context.Context, diags *diag.Diagnostics) policy.Identity {
	return policy.Identity{
		Name:        m.Name.ValueString(),
		Class:       m.Class.ValueString(),
		Owner:       m.Owner.ValueString(),
		Environment: m.Environment.ValueString(),
		TTLPolicy:   m.TTLPolicy.ValueString(),
		Description: m.Description.ValueString(),
		Scopes:      stringsOf(ctx, m.Scopes, diags),
		BoundCIDRs:  stringsOf(ctx, m.BoundCIDRs, diags),
		Exception:   m.Exception.toPolicy(diags),
		ReviewedAt:  timeOf(m.ReviewedAt, diags),
		ReviewedBy:  m.ReviewedBy.ValueString(),
		Target:      m.Target.ValueString(),
	}
}

func (m *identityModel) fromPolicy(id policy.Identity) {
	m.identityAttrs.fromPolicy(id)
	m.Exception = newExceptionModel(id.Exception)
	// Privileges the engine grants beyond or short of the declaration are engine drift too: the
	// plan restores them like any other setting.
	drift := slices.Concat(id.EngineDrift, id.PrivilegesAdded, id.PrivilegesRemoved)
	if drift == nil {
		drift = []string{}
	}
	m.EngineDrift, _ = types.ListValueFrom(context.Background(), types.StringType, drift)
	if m.OnDestroy.IsNull() || m.OnDestroy.IsUnknown() {
		m.OnDestroy = types.StringValue(onDestroyRetire)
	}
}

func (m *identityAttrs) fromPolicy(id policy.Identity) {
	m.setName(id.Name)
	m.Class = types.StringValue(id.Class)
	m.Owner = optString(id.Owner)
	m.Environment = optString(id.Environment)
	m.TTLPolicy = optString(id.TTLPolicy)
	m.Description = optString(id.Description)
	m.Scopes = setOf(id.Scopes)
	m.BoundCIDRs = setOf(id.BoundCIDRs)
	m.Target = optString(id.Target)
	m.Status = types.StringValue(string(id.Status))
	m.CreatedAt = timetypes.NewRFC3339TimeValue(id.CreatedAt)
	m.RetiredAt = timetypes.NewRFC3339Null()
	if !id.RetiredAt.IsZero() {
		m.RetiredAt = timetypes.NewRFC3339TimeValue(id.RetiredAt)
	}
	m.LastUsedAt = timetypes.NewRFC3339Null()
	if !id.LastUsedAt.IsZero() {
		m.LastUsedAt = timetypes.NewRFC3339TimeValue(id.LastUsedAt)
	}
	m.ReviewedAt = optTimestamp(id.ReviewedAt)
	m.ReviewedBy = optString(id.ReviewedBy)
}

// lastUsedAtDescription documents last_used_at wherever an identity has it.
const lastUsedAtDescription = "When the identity last authenticated (RFC 3339): a credential issued or used, or its rotated " +
	"secret used to log in; null when never used, or when the engine cannot tell (Vault without the provider's " +
	"`vault.audit_log_path`). The local engine records it at most once per identity per minute; Vault derives it from the " +
	"login entries of its file audit device. A class's `max_idle` turns a long idle time into an `inactive` finding."

// check evaluates the identity against its class and TTL policy as the engine holds them. It
// returns false when either is missing (it may be created in the same plan); warn then warns on
// the attribute that names the missing one.
func (r *identityResource) check(ctx context.Context, id policy.Identity, diags *diag.Diagnostics, warn bool) (complete bool) {
	class, err := r.data.engine.GetClass(ctx, id.Class)
	if errors.Is(err, engine.ErrNotFound) {
		if warn {
			warnNotInEngine(diags, "class", "lifecycle class", id.Class, "nhi_lifecycle_class.<label>.name")
		}
		return false
	}
	if err != nil {
		addEngineError(diags, fmt.Sprintf("read lifecycle class %q of identity %q", id.Class, id.Name), err)
		return false
	}
	var ttl *policy.TTLPolicy
	complete = true
	if id.TTLPolicy != "" {
		p, err := r.data.engine.GetTTLPolicy(ctx, id.TTLPolicy)
		switch {
		case errors.Is(err, engine.ErrNotFound):
			complete = false
			if warn {
				warnNotInEngine(diags, "ttl_policy", "TTL policy", id.TTLPolicy, "nhi_ttl_policy.<label>.name")
			}
		case err != nil:
			addEngineError(diags, fmt.Sprintf("read TTL policy %q of identity %q", id.TTLPolicy, id.Name), err)
			return false
		default:
			ttl = &p
		}
	}
	if !r.checkTarget(ctx, id, diags, warn) {
		complete = false
	}
	addFindings(diags, policy.CheckIdentity(id, &class, ttl))
	if !r.checkReviewAndOwner(ctx, id, class, diags, warn) {
		return false
	}
	var sched *policy.RotationSchedule
	if s, err := r.data.engine.GetRotationSchedule(ctx, id.Name); err == nil {
		sched = &s
	} else if !errors.Is(err, engine.ErrNotFound) {
		addEngineError(diags, fmt.Sprintf("read the rotation schedule of identity %q", id.Name), err)
		return false
	}
	// At plan the live secrets are not read: a rotated secret without a schedule counts as none
	// here, and its unbounded exposure is a refresh finding.
	var exp *policy.Exposure
	if e, known := policy.ExposureOf(id, ttl, sched, false, r.data.clock.Now()); known {
		exp = &e
	}
	addFindings(diags, policy.CheckPrivilege(id, &class, exp, r.data.clock.Now()))
	return complete
}

// checkReviewAndOwner checks the identity's review attestation and its owner record against its
// class (the owner read from the engine). A missing reviewer, a review dated in the future and,
// under require_registered_owner, an owner that is not an active nhi_owner are errors; at plan
// (plan true) a review due within 14 days or overdue, and an owner marked departed under a class
// that does not require registered owners, are warnings. An owner that this plan creates is
// unknown at plan, which skips every check; the apply then checks it, after the owner is written
// (the reference orders them), and fails before the identity is written. It returns false after
// an engine error.
func (r *identityResource) checkReviewAndOwner(ctx context.Context, id policy.Identity, class policy.Class, diags *diag.Diagnostics, plan bool) bool {
	now := r.data.clock.Now()
	addFindings(diags, policy.CheckReview(id, &class, now))
	if plan {
		warnFindings(diags, policy.ReviewReminder(id, &class, now))
	}
	var owner *policy.Owner
	if id.Owner != "" {
		o, err := r.data.engine.GetOwner(ctx, id.Owner)
		switch {
		case errors.Is(err, engine.ErrNotFound):
		case err != nil:
			addEngineError(diags, fmt.Sprintf("read owner %q of identity %q", id.Owner, id.Name), err)
			return false
		default:
			owner = &o
		}
	}
	findings := policy.CheckOwner(id, &class, owner)
	switch {
	case class.RequireRegisteredOwner:
		addFindings(diags, findings)
	case plan:
		warnFindings(diags, findings)
	}
	return true
}

// ModifyPlan fails the plan of an identity that breaks its class's rules, or whose create or
// rename meets its name taken in the engine by an identity it cannot adopt. When the class or TTL
// policy is created in the same plan, the check runs again at apply, before anything is written.
func (r *identityResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() {
		return
	}
	var m identityModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A create, or a rename (which replaces the identity: the old one is destroyed first), must
	// find its name free or adoptable before anything is destroyed or written.
	if name, ok := createdName(ctx, req, path.Root("name"), &resp.Diagnostics); ok {
		if r.checkName(ctx, name, m, req.Config.Raw.IsFullyKnown(), &resp.Diagnostics); resp.Diagnostics.HasError() {
			return
		}
	}
	// An identity keeps its target (engine.CheckTargetKept); a rename makes a new identity.
	if !req.State.Raw.IsNull() && !m.Target.IsUnknown() {
		var prior identityModel
		resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
		if prior.Name.Equal(m.Name) {
			cur := policy.Identity{Name: prior.Name.ValueString(), Target: prior.Target.ValueString()}
			if err := engine.CheckTargetKept(cur, policy.Identity{Name: m.Name.ValueString(), Target: m.Target.ValueString()}); err != nil {
				resp.Diagnostics.AddAttributeError(path.Root("target"), "Target Cannot Change", err.Error())
				return
			}
		}
	}
	if planAdoptUnmanaged(ctx, req, resp); !req.Config.Raw.IsFullyKnown() {
		return
	}
	// What the engine enforces drifted from the declaration: plan the update that restores it.
	// A retired identity is not updated; retiring it again in the engine is a drift report's remedy.
	if !m.EngineDrift.IsNull() && !m.EngineDrift.IsUnknown() && len(m.EngineDrift.Elements()) > 0 && m.Status.ValueString() != string(policy.StatusRetired) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("engine_drift"), types.ListValueMust(types.StringType, nil))...)
		// The restore changes what the findings see: they are known after apply.
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("findings"), types.ListUnknown(types.ObjectType{AttrTypes: findingAttrTypes()}))...)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("trust_debt_hours"), types.Float64Unknown())...)
		return
	}
	id := m.toPolicy(ctx, &resp.Diagnostics)
	// The review clock of an identity never reviewed starts at its creation; a retired identity
	// needs no review.
	id.CreatedAt = timeOf(timestampValue{RFC3339: m.CreatedAt}, &resp.Diagnostics)
	id.Status = policy.Status(m.Status.ValueString())
	if unchanged(req) {
		// The identity's own time rules still run: an exception that expired is a violation
		// again, and a review falling due is a reminder in every plan.
		addFindings(&resp.Diagnostics, policy.CheckPrivilege(id, nil, nil, r.data.clock.Now()))
		r.remindReview(ctx, id, &resp.Diagnostics)
		return
	}
	r.check(ctx, id, &resp.Diagnostics, true)
	r.warnMissingScopes(ctx, id, &resp.Diagnostics)
}

// remindReview warns, in the plan of an unchanged identity, about a review that falls due within
// 14 days or is overdue under its class as the engine holds it.
func (r *identityResource) remindReview(ctx context.Context, id policy.Identity, diags *diag.Diagnostics) {
	class, err := r.data.engine.GetClass(ctx, id.Class)
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read lifecycle class %q of identity %q", id.Class, id.Name), err)
	default:
		warnFindings(diags, policy.ReviewReminder(id, &class, r.data.clock.Now()))
	}
}

// warnMissingScopes warns, on an engine whose scopes name its own objects (Vault ACL policies),
// about scopes it does not hold (the scopes of an identity with a target are the target's roles): another provider may create them in the same run, and the
// apply fails if they are still missing then.
func (r *identityResource) warnMissingScopes(ctx context.Context, id policy.Identity, diags *diag.Diagnostics) {
	cat, ok := r.data.engine.(engine.ScopeCatalog)
	if !ok || len(id.Scopes) == 0 || id.Target != "" {
		return
	}
	missing, err := cat.MissingScopes(ctx, id.Scopes)
	switch {
	case err != nil:
		diags.AddAttributeWarning(path.Root("scopes"), "Unable to Check Scopes",
			fmt.Sprintf("Could not check that the scopes of identity %q exist in the engine (%v); the apply checks again.", id.Name, err))
	case len(missing) > 0:
		diags.AddAttributeWarning(path.Root("scopes"), "Scope Not Found in Engine",
			fmt.Sprintf("Identity %q has scopes %q that name no ACL policy in the engine. If another resource creates them in this run "+
				"(a vault_policy, say), reference it so Terraform orders the two; if they are still missing at apply, the apply fails.", id.Name, missing))
	}
}

// checkName reports what the engine holds under the name an identity is created with (see
// planAdoption). While the declaration is not fully known (its class is created in the same
// plan) it can only tell a retired name, which no declaration adopts; the rest is decided at
// apply, where CreateIdentity adopts or refuses.
func (r *identityResource) checkName(ctx context.Context, name string, m identityModel, known bool, diags *diag.Diagnostics) {
	declared := m.toPolicy(ctx, diags)
	if known {
		adopt, err := r.data.engine.CheckCreateIdentity(ctx, declared)
		if adopt || err != nil {
			planAdoption(diags, path.Root("name"), engine.KindIdentity, name, err)
		}
		return
	}
	have, err := r.data.engine.GetIdentity(ctx, name)
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read identity %q", name), err)
	case have.Retired():
		addNameTaken(diags, path.Root("name"), engine.AdoptableIdentity(have, declared))
	}
}

// requireComplete re-runs the check at apply and refuses to write an identity whose class, TTL
// policy or target the engine does not hold.
func (r *identityResource) requireComplete(ctx context.Context, id policy.Identity, diags *diag.Diagnostics) bool {
	if complete := r.check(ctx, id, diags, false); diags.HasError() {
		return false
	} else if !complete {
		diags.AddError("Class, TTL Policy or Target Not Found",
			fmt.Sprintf("Identity %q names class %q, TTL policy %q and target %q, and the engine does not hold one of them. Create them first (reference them, e.g. nhi_lifecycle_class.ci.name, so Terraform orders them).",
				id.Name, id.Class, id.TTLPolicy, id.Target))
		return false
	}
	return true
}

func (r *identityResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "create", r.data.engine.CreateIdentity)
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

func (r *identityResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "update", r.updateStore(ctx, req.State, &resp.Diagnostics))
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

// write checks the planned identity at apply, then creates or updates it with store.
func (r *identityResource) write(ctx context.Context, plan planGetter, state stateSetter, diags *diag.Diagnostics, action string,
	store func(context.Context, policy.Identity) (policy.Identity, error)) {
	var m identityModel
	diags.Append(plan.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	id := m.toPolicy(ctx, diags)
	if !r.requireComplete(ctx, id, diags) {
		return
	}
	stored, err := store(ctx, id)
	if err != nil {
		addEngineError(diags, fmt.Sprintf("%s identity %q", action, id.Name), err)
		return
	}
	tflog.Info(ctx, action+"d identity", map[string]any{"identity": id.Name, "class": id.Class})
	m.fromPolicy(stored)
	r.observe(ctx, stored, &m, diags)
	diags.Append(state.Set(ctx, &m)...)
}

func (r *identityResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m identityModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	setIdentity(ctx, req.State, resp.Identity, "name", &resp.Diagnostics)
	if resp.Diagnostics.HasError() || r.readUnmanaged(ctx, m, resp) {
		return
	}
	// One read of the identity and of what its findings need (engine.ReadObserved: on Vault at
	// most 3 requests for an ephemeral identity). Reading the identity is what must succeed;
	// findings that cannot be read are a warning, as after a create.
	var observeErr error
	fleet, ok := readFound(ctx, resp, "identity", m.Name.ValueString(), func(ctx context.Context, name string) (policy.Fleet, error) {
		fleet, err := engine.ReadObserved(ctx, r.data.engine, name, r.data.clock.Now())
		if len(fleet.Identities) == 1 {
			observeErr, err = err, nil
		}
		return fleet, err
	})
	if !ok {
		return
	}
	m.fromPolicy(fleet.Identities[0])
	r.setFindings(ctx, fleet, observeErr, &m, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *identityResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m identityModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := m.Name.ValueString()
	var err error
	if m.OnDestroy.ValueString() == onDestroyDelete {
		err = r.data.engine.DeleteIdentity(ctx, name)
	} else {
		_, err = r.data.engine.RetireIdentity(ctx, name)
	}
	if !deleted(&resp.Diagnostics, fmt.Sprintf("%s identity %q", m.OnDestroy.ValueString(), name), err) {
		return
	}
	tflog.Info(ctx, "destroyed identity", map[string]any{"identity": name, "on_destroy": m.OnDestroy.ValueString()})
}

// ImportState imports by name, as every resource does, then finds what the engine holds for an
// identity this provider did not create.
func (r *identityResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	r.resourceBase.ImportState(ctx, req, resp)
	r.importUnmanaged(ctx, resp)
}

// checkTarget checks that the target an identity names is in the engine. It returns false when
// it is not (it may be created in the same plan); warn then warns on `target`.
func (r *identityResource) checkTarget(ctx context.Context, id policy.Identity, diags *diag.Diagnostics, warn bool) bool {
	if id.Target == "" {
		return true
	}
	_, err := r.data.engine.GetTarget(ctx, id.Target)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		if warn {
			warnNotInEngine(diags, "target", engine.KindTarget, id.Target, "nhi_target.<label>.name")
		}
		return false
	case err != nil:
		addEngineError(diags, fmt.Sprintf("read target %q of identity %q", id.Target, id.Name), err)
		return false
	}
	return true
}

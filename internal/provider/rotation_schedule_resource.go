package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var (
	_ managedResource                       = (*rotationScheduleResource)(nil)
	_ resource.ResourceWithConfigValidators = (*rotationScheduleResource)(nil)
	_ resource.ResourceWithValidateConfig   = (*rotationScheduleResource)(nil)
)

// NewRotationScheduleResource returns the nhi_rotation_schedule resource.
func NewRotationScheduleResource() resource.Resource {
	return &rotationScheduleResource{resourceBase{typeName: "rotation_schedule", key: "identity", keyDescription: "The name of the identity whose secret rotates."}}
}

type rotationScheduleResource struct {
	resourceBase
}

type rotationScheduleModel struct {
	ID                types.String      `tfsdk:"id"`
	Identity          types.String      `tfsdk:"identity"`
	Interval          durationValue     `tfsdk:"interval"`
	Cron              types.String      `tfsdk:"cron"`
	Window            durationValue     `tfsdk:"window"`
	Overlap           durationValue     `tfsdk:"overlap"`
	Consumers         []consumerModel   `tfsdk:"consumers"`
	Verify            types.Bool        `tfsdk:"verify"`
	KeepVersions      types.Int64       `tfsdk:"keep_versions"`
	SecretLength      types.Int64       `tfsdk:"secret_length"`
	ExpireUnrotated   types.Bool        `tfsdk:"expire_unrotated"`
	Strategy          types.String      `tfsdk:"strategy"`
	RollbackToVersion types.Int64       `tfsdk:"rollback_to_version"`
	CurrentVersion    types.Int64       `tfsdk:"current_version"`
	LastRotatedAt     timetypes.RFC3339 `tfsdk:"last_rotated_at"`
	NextRotationAt    timetypes.RFC3339 `tfsdk:"next_rotation_at"`
	PreviousExpiresAt timetypes.RFC3339 `tfsdk:"previous_expires_at"`
	OverdueBy         types.String      `tfsdk:"overdue_by"`
}

type consumerModel struct {
	Name types.String `tfsdk:"name"`
	Kind types.String `tfsdk:"kind"`
	Note types.String `tfsdk:"note"`
}

func (r *rotationScheduleResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	computedTime := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{CustomType: timetypes.RFC3339Type{}, Computed: true, MarkdownDescription: desc,
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: description("rotation_schedule_resource"),
		Attributes: map[string]schema.Attribute{
			"id":       idAttribute("The identity name."),
			"identity": nameAttribute("Name of the persistent `nhi_identity` whose secret rotates. Changing it replaces the schedule."),
			"interval": durationAttribute(false, "Rotate this long after the last rotation, such as `30d`. Exactly one of `interval` and `cron`."),
			"cron": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Rotate at the times of this 5-field cron expression, in UTC, such as `0 3 * * 1` (03:00 every " +
					"Monday). Its longest gap must sit within the class's `max_rotation_interval`.",
				Validators: []validator.String{cronValidator},
			},
			"window": schema.StringAttribute{
				CustomType:          durationType{},
				Optional:            true,
				MarkdownDescription: "How long after its due time a rotation may still start before it counts as overdue, such as `6h`.",
			},
			"overlap": schema.StringAttribute{
				CustomType:          durationType{},
				Optional:            true,
				MarkdownDescription: "How long the previous secret stays valid after a rotation, so consumers can pick up the new one. Must be shorter than the interval.",
			},
			"consumers": schema.ListNestedAttribute{
				Optional:            true,
				MarkdownDescription: "Every system that uses the secret: the dependency map a rotation must not miss. Required when the class sets `require_consumers`.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{Required: true, MarkdownDescription: "The consumer, such as `billing-api`.",
						Validators: []validator.String{nonEmptyValidator}},
					"kind": schema.StringAttribute{Optional: true, MarkdownDescription: "What it is, such as `service`, `job` or `vendor`.",
						Validators: []validator.String{nonEmptyValidator}},
					"note": schema.StringAttribute{Optional: true, MarkdownDescription: "How it picks up a new secret."},
				}},
			},
			"verify": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(true),
				MarkdownDescription: "Authenticate with the new secret before promoting it, and roll back when that fails. Defaults to `true`.",
			},
			"keep_versions": schema.Int64Attribute{
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(3),
				MarkdownDescription: "How many versions to retain for rollback, the current one included. Defaults to `3`.",
				Validators:          []validator.Int64{int64validator.Between(1, 100)},
			},
			"secret_length": schema.Int64Attribute{
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(32),
				MarkdownDescription: "Bytes of entropy in each new secret. Defaults to `32`.",
				Validators:          []validator.Int64{int64validator.Between(engine.MinSecretLength, engine.MaxSecretLength)},
			},
			"expire_unrotated": schema.BoolAttribute{
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
				MarkdownDescription: "Make each secret stop authenticating at its next due time plus `window`, so a rotation that does not happen cannot leave a secret living on. Defaults to `false`.",
			},
			"strategy": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "For an identity with a `target`, whose secret is the password of a login there: unset, one " +
					"login named after the identity whose password each rotation replaces (no `overlap` possible: one login holds one " +
					"password); `alternating`, two logins (`<login>_a`, `<login>_b`, members of one group role holding the scopes) " +
					"taking turns: the new password goes to the login not in use, which becomes current, and the other stops logging " +
					"in when `overlap` ends. `overlap` above zero without it is refused at plan for such identities. " +
					"On the Vault engine, with either strategy, the new password is drawn by the provider (`secret_length` bytes), " +
					"kept in KV and set on the login as a SCRAM verifier by statements Vault runs as the target's admin user, never " +
					"in clear; a failed verification sets the previous password back (one login) or leaves the current login " +
					"untouched and stops the staged one (`alternating`).",
				Validators: []validator.String{stringvalidator.OneOf(policy.StrategyAlternating)},
			},
			"rollback_to_version": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Re-promote this retained version (a manual rollback). It acts when the value changes.",
				Validators:          []validator.Int64{int64validator.AtLeast(1)},
			},
			"current_version": schema.Int64Attribute{
				Computed:            true,
				MarkdownDescription: "The version of the secret in use.",
				PlanModifiers:       []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"last_rotated_at":     computedTime("When the current version was promoted (RFC 3339)."),
			"next_rotation_at":    computedTime("When the next rotation is due (RFC 3339)."),
			"previous_expires_at": computedTime("When the previous version stops (or stopped) authenticating (RFC 3339); null when there is none."),
			"overdue_by": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "How far past its due time plus `window` the rotation is, as of the last refresh; null when on time.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (r *rotationScheduleResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.ExactlyOneOf(path.MatchRoot("interval"), path.MatchRoot("cron")),
	}
}

// ValidateConfig runs the schedule's own rules (no identity or class needed), so `terraform
// validate` reports them.
func (r *rotationScheduleResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m rotationScheduleModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || !req.Config.Raw.IsFullyKnown() {
		return
	}
	addFindings(&resp.Diagnostics, policy.CheckRotationSchedule(m.toPolicy(), nil, validationTime(r.data)))
}

func (m rotationScheduleModel) toPolicy() policy.RotationSchedule {
	s := policy.RotationSchedule{
		Identity:        m.Identity.ValueString(),
		Interval:        m.Interval.Duration(),
		Cron:            m.Cron.ValueString(),
		Window:          m.Window.Duration(),
		Overlap:         m.Overlap.Duration(),
		Verify:          m.Verify.ValueBool(),
		KeepVersions:    m.KeepVersions.ValueInt64(),
		SecretLength:    m.SecretLength.ValueInt64(),
		ExpireUnrotated: m.ExpireUnrotated.ValueBool(),
		Strategy:        m.Strategy.ValueString(),
	}
	for _, c := range m.Consumers {
		s.Consumers = append(s.Consumers, policy.Consumer{Name: c.Name.ValueString(), Kind: c.Kind.ValueString(), Note: c.Note.ValueString()})
	}
	return s
}

// fromEngine writes the schedule and what the engine holds of the secret into the model.
func (m *rotationScheduleModel) fromEngine(s policy.RotationSchedule, versions []engine.SecretVersion, now time.Time) {
	m.ID = types.StringValue(s.Identity)
	m.Identity = types.StringValue(s.Identity)
	m.Interval = keepDuration(m.Interval, s.Interval)
	m.Cron = optString(s.Cron)
	m.Window = keepDuration(m.Window, s.Window)
	m.Overlap = keepDuration(m.Overlap, s.Overlap)
	m.Consumers = nil
	for _, c := range s.Consumers {
		m.Consumers = append(m.Consumers, consumerModel{Name: types.StringValue(c.Name), Kind: optString(c.Kind), Note: optString(c.Note)})
	}
	m.Verify = types.BoolValue(s.Verify)
	m.KeepVersions = types.Int64Value(s.KeepVersions)
	m.SecretLength = types.Int64Value(s.SecretLength)
	m.ExpireUnrotated = types.BoolValue(s.ExpireUnrotated)
	m.Strategy = optString(s.Strategy)

	m.CurrentVersion, m.LastRotatedAt, m.NextRotationAt = types.Int64Null(), timetypes.NewRFC3339Null(), timetypes.NewRFC3339Null()
	m.PreviousExpiresAt, m.OverdueBy = timetypes.NewRFC3339Null(), types.StringNull()
	for _, v := range versions {
		switch {
		case v.State == engine.SecretCurrent:
			m.CurrentVersion = types.Int64Value(v.Version)
			m.LastRotatedAt = timetypes.NewRFC3339TimeValue(v.PromotedAt)
			if next, err := s.NextRotation(v.PromotedAt); err == nil {
				m.NextRotationAt = timetypes.NewRFC3339TimeValue(next)
				if late := s.Overdue(next, now); late > 0 {
					m.OverdueBy = types.StringValue(policy.FormatDuration(late.Truncate(time.Second)))
				}
			}
		case v.State == engine.SecretPrevious && !v.ExpiresAt.IsZero():
			m.PreviousExpiresAt = timetypes.NewRFC3339TimeValue(v.ExpiresAt)
		}
	}
}

// check evaluates the schedule against the class of its identity as the engine holds them. It
// returns false when the identity or class is missing (it may be created in the same plan); warn
// then warns on identity when the identity is the one missing.
func (r *rotationScheduleResource) check(ctx context.Context, s policy.RotationSchedule, diags *diag.Diagnostics, warn bool) bool {
	now := r.data.clock.Now()
	id, err := r.data.engine.GetIdentity(ctx, s.Identity)
	if errors.Is(err, engine.ErrNotFound) {
		addFindings(diags, policy.CheckRotationSchedule(s, nil, now))
		if warn {
			warnNotInEngine(diags, "identity", "identity", s.Identity, "nhi_identity.<label>.id")
		}
		return false
	}
	if err != nil {
		addEngineError(diags, fmt.Sprintf("read identity %q", s.Identity), err)
		return false
	}
	class, err := r.data.engine.GetClass(ctx, id.Class)
	if errors.Is(err, engine.ErrNotFound) {
		addFindings(diags, policy.CheckRotationSchedule(s, nil, now))
		return false
	}
	if err != nil {
		addEngineError(diags, fmt.Sprintf("read lifecycle class %q of identity %q", id.Class, s.Identity), err)
		return false
	}
	addFindings(diags, policy.CheckRotationSchedule(s, &class, now))
	addFindings(diags, policy.CheckTargetRotation(s, id))
	return true
}

// ModifyPlan fails the plan of a schedule that breaks its class's rules, and plans a rotation
// when one is due by the provider's clock or a rollback is requested.
func (r *rotationScheduleResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() || !req.Config.Raw.IsFullyKnown() {
		return
	}
	var plan rotationScheduleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s := plan.toPolicy()
	if unchanged(req) {
		addFindings(&resp.Diagnostics, policy.CheckRotationSchedule(s, nil, r.data.clock.Now()))
	} else {
		r.check(ctx, s, &resp.Diagnostics, true)
	}
	if name, ok := createdName(ctx, req, path.Root("identity"), &resp.Diagnostics); ok {
		checkCreate(ctx, &resp.Diagnostics, path.Root("identity"), engine.KindRotationSchedule, name, s, r.data.engine.GetRotationSchedule)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	var state rotationScheduleModel
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	}
	if v := plan.RollbackToVersion; !v.IsNull() && !v.Equal(state.RollbackToVersion) {
		r.checkRollback(ctx, s.Identity, v.ValueInt64(), &resp.Diagnostics)
	}
	if resp.Diagnostics.HasError() || req.State.Raw.IsNull() {
		return
	}
	reason := ""
	if last, d := state.LastRotatedAt.ValueRFC3339Time(); !d.HasError() && !state.LastRotatedAt.IsNull() {
		due, next, err := s.Due(last, r.data.clock.Now())
		if err == nil && due {
			reason = fmt.Sprintf("the secret of identity %q (version %d, rotated %s) was due for rotation at %s",
				s.Identity, state.CurrentVersion.ValueInt64(), last.Format(time.RFC3339), next.Format(time.RFC3339))
		}
	}
	if state.CurrentVersion.IsNull() {
		reason = fmt.Sprintf("identity %q has no current secret in the engine", s.Identity)
	}
	if v := plan.RollbackToVersion; !v.IsNull() && !v.Equal(state.RollbackToVersion) {
		reason = fmt.Sprintf("rollback_to_version = %d re-promotes that version of identity %q's secret", v.ValueInt64(), s.Identity)
	}
	if reason != "" {
		resp.Diagnostics.AddWarning("Rotation Planned", "This apply rotates: "+reason+".")
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("current_version"), types.Int64Unknown())...)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("last_rotated_at"), timetypes.NewRFC3339Unknown())...)
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("previous_expires_at"), timetypes.NewRFC3339Unknown())...)
	}
	scheduleChanged := !plan.Interval.Equal(state.Interval) || !plan.Cron.Equal(state.Cron) || !plan.Window.Equal(state.Window)
	if reason != "" || scheduleChanged {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("next_rotation_at"), timetypes.NewRFC3339Unknown())...)
	}
	// overdue_by depends on the time of the apply: unknown in any plan that updates.
	if reason != "" || !req.Plan.Raw.Equal(req.State.Raw) {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("overdue_by"), types.StringUnknown())...)
	}
}

// checkRollback fails the plan when rollback_to_version names a version of the identity's secret
// that the engine does not hold (never made, destroyed or discarded).
func (r *rotationScheduleResource) checkRollback(ctx context.Context, identity string, version int64, diags *diag.Diagnostics) {
	versions, err := r.data.engine.ListSecretVersions(ctx, identity)
	if err != nil {
		addEngineError(diags, fmt.Sprintf("list the secret versions of identity %q", identity), err)
		return
	}
	held := make([]string, 0, len(versions))
	for _, v := range versions {
		if v.Version == version {
			return
		}
		held = append(held, fmt.Sprintf("%d (%s)", v.Version, v.State))
	}
	if len(held) == 0 {
		held = append(held, "none")
	}
	diags.AddAttributeError(path.Root("rollback_to_version"), "Secret Version Not Found",
		fmt.Sprintf("rollback_to_version = %d, but identity %q's secret has no version %d in the engine (never made, or destroyed). Versions held: %s. Set rollback_to_version to one of them, or remove it.",
			version, identity, version, strings.Join(held, ", ")))
}

// rotateSecret stages a new version of s's identity's secret, verifies it when s asks, and
// promotes it; on a failed verification it discards the new version and reports the cause. A
// scheduled rotation (nhi_rotation_schedule) and an invoked one (the nhi_rotate action) both
// rotate here.
func rotateSecret(ctx context.Context, d *providerData, s policy.RotationSchedule, reason string, diags *diag.Diagnostics) {
	e := d.engine
	staged, secret, err := e.StageSecret(ctx, s.Identity, s.SecretLength)
	if err != nil {
		addEngineError(diags, fmt.Sprintf("stage a new secret for identity %q", s.Identity), err)
		return
	}
	if s.Verify {
		who, err := e.Authenticate(ctx, secret)
		if err := s.VerifyStaged(who, err); err != nil {
			rollback := e.DiscardSecret(ctx, s.Identity, staged.Version)
			detail := fmt.Sprintf("Verification of version %d of identity %q's secret failed: %v. The rotation was rolled back: version %d was destroyed and the current secret stays in use.",
				staged.Version, s.Identity, err, staged.Version)
			if rollback != nil {
				detail += fmt.Sprintf(" Destroying version %d also failed (%v); it will be discarded by the next rotation.", staged.Version, rollback)
			}
			diags.AddError("Rotation Verification Failed", detail)
			return
		}
	}
	promoteSecret(ctx, d, s, staged.Version, reason, diags)
}

// promoteSecret makes version of s's identity's secret current, under s's overlap, keep and
// expire_unrotated settings.
func promoteSecret(ctx context.Context, d *providerData, s policy.RotationSchedule, version int64, reason string, diags *diag.Diagnostics) {
	limit, err := s.UnrotatedLimit(d.clock.Now())
	if err != nil {
		diags.AddAttributeError(path.Root("cron"), "Invalid Rotation Schedule", err.Error())
		return
	}
	opts := engine.PromoteOptions{Overlap: s.Overlap, Keep: s.KeepVersions, ExpiresAt: limit, Reason: reason}
	if _, err := d.engine.PromoteSecret(ctx, s.Identity, version, opts); err != nil {
		addEngineError(diags, fmt.Sprintf("promote version %d of identity %q's secret", version, s.Identity), err)
		return
	}
	tflog.Info(ctx, "rotated secret", map[string]any{"identity": s.Identity, "version": version, "reason": reason})
}

// apply writes the schedule, performs the rotation or rollback the plan announced, and reads
// the result back into the state.
func (r *rotationScheduleResource) apply(ctx context.Context, plan rotationScheduleModel, prior *rotationScheduleModel, state stateSetter, diags *diag.Diagnostics) {
	s := plan.toPolicy()
	if !r.check(ctx, s, diags, false) {
		if !diags.HasError() {
			diags.AddAttributeError(path.Root("identity"), "Identity Not Found",
				fmt.Sprintf("The engine holds no identity %q or no class of it. Create the nhi_identity first (reference it, e.g. nhi_identity.svc.id).", s.Identity))
		}
		return
	}
	now := r.data.clock.Now()
	adopted := false
	if prior == nil {
		if adopted = r.adoptable(ctx, s, diags); diags.HasError() {
			return
		}
	}
	// The schedule is written before the rotation, which follows it (a login on a target
	// rotates by the schedule's strategy); a create interrupted after the write adopts the
	// schedule on the next apply and rotates then, as it has no current secret.
	if err := r.data.engine.PutRotationSchedule(ctx, s); err != nil {
		addEngineError(diags, fmt.Sprintf("write the rotation schedule of identity %q", s.Identity), err)
		return
	}
	switch {
	case prior == nil:
		if !adopted || !r.hasCurrentSecret(ctx, s.Identity, diags) {
			rotateSecret(ctx, r.data, s, "initial version", diags)
		}
	case !plan.RollbackToVersion.IsNull() && !plan.RollbackToVersion.Equal(prior.RollbackToVersion):
		v := plan.RollbackToVersion.ValueInt64()
		promoteSecret(ctx, r.data, s, v, fmt.Sprintf("rollback to version %d", v), diags)
	case plan.CurrentVersion.IsUnknown():
		// The plan announced a rotation (due, or no current secret). Rotate exactly when it
		// did, never on the apply's own clock: a rotation the plan did not show would make the
		// apply's result differ from the plan.
		rotateSecret(ctx, r.data, s, "scheduled rotation", diags)
	}
	if diags.HasError() {
		return
	}
	if adopted {
		if err := r.data.engine.RecordAdoption(ctx, engine.KindRotationSchedule, s.Identity); err != nil {
			addEngineError(diags, fmt.Sprintf("record the adoption of the rotation schedule of identity %q", s.Identity), err)
			return
		}
	}
	versions, err := r.data.engine.ListSecretVersions(ctx, s.Identity)
	if err != nil {
		addEngineError(diags, fmt.Sprintf("list the secret versions of identity %q", s.Identity), err)
		return
	}
	plan.fromEngine(s, versions, now)
	diags.Append(state.Set(ctx, &plan)...)
}

// adoptable tells whether a create of s adopts the schedule the engine holds for its identity
// (an interrupted apply wrote it); a schedule that differs is an error.
func (r *rotationScheduleResource) adoptable(ctx context.Context, s policy.RotationSchedule, diags *diag.Diagnostics) bool {
	have, err := r.data.engine.GetRotationSchedule(ctx, s.Identity)
	if errors.Is(err, engine.ErrNotFound) {
		return false
	}
	if err == nil {
		err = engine.Adoptable(engine.KindRotationSchedule, s.Identity, have, s)
	}
	if err != nil {
		addEngineError(diags, fmt.Sprintf("create the rotation schedule of identity %q", s.Identity), err)
		return false
	}
	return true
}

// hasCurrentSecret tells whether the identity's secret has a current version, which an adopted
// schedule keeps instead of rotating again.
func (r *rotationScheduleResource) hasCurrentSecret(ctx context.Context, identity string, diags *diag.Diagnostics) bool {
	versions, err := r.data.engine.ListSecretVersions(ctx, identity)
	if err != nil {
		addEngineError(diags, fmt.Sprintf("list the secret versions of identity %q", identity), err)
		return true
	}
	for _, v := range versions {
		if v.State == engine.SecretCurrent {
			return true
		}
	}
	return false
}

func (r *rotationScheduleResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan rotationScheduleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if !resp.Diagnostics.HasError() {
		r.apply(ctx, plan, nil, &resp.State, &resp.Diagnostics)
	}
	setIdentity(ctx, resp.State, resp.Identity, "identity", &resp.Diagnostics)
}

func (r *rotationScheduleResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior rotationScheduleModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if !resp.Diagnostics.HasError() {
		r.apply(ctx, plan, &prior, &resp.State, &resp.Diagnostics)
	}
	setIdentity(ctx, resp.State, resp.Identity, "identity", &resp.Diagnostics)
}

func (r *rotationScheduleResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m rotationScheduleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	setIdentity(ctx, req.State, resp.Identity, "identity", &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	identity := m.Identity.ValueString()
	s, ok := readFound(ctx, resp, "rotation schedule of identity", identity, r.data.engine.GetRotationSchedule)
	if !ok {
		return
	}
	versions, err := r.data.engine.ListSecretVersions(ctx, identity)
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("list the secret versions of identity %q", identity), err)
		return
	}
	m.fromEngine(s, versions, r.data.clock.Now())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *rotationScheduleResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m rotationScheduleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.data.engine.DeleteRotationSchedule(ctx, m.Identity.ValueString())
	deleted(&resp.Diagnostics, fmt.Sprintf("delete the rotation schedule of identity %q", m.Identity.ValueString()), err)
}

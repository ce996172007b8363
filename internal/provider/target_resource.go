package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/target"
	"github.com/nhigov/terraform-provider-nhi/internal/target/postgres"
)

var (
	_ managedResource                       = (*targetResource)(nil)
	_ resource.ResourceWithConfigValidators = (*targetResource)(nil)
)

// NewTargetResource returns the nhi_target resource.
func NewTargetResource() resource.Resource {
	return &targetResource{resourceBase{typeName: "target", key: "name", keyDescription: "The target name."}}
}

type targetResource struct {
	resourceBase
}

type targetModel struct {
	keyedByName
	Kind              types.String `tfsdk:"kind"`
	Host              types.String `tfsdk:"host"`
	Port              types.Int64  `tfsdk:"port"`
	Database          types.String `tfsdk:"database"`
	SSLMode           types.String `tfsdk:"sslmode"`
	Username          types.String `tfsdk:"username"`
	PasswordWO        types.String `tfsdk:"password_wo"`
	PasswordWOVersion types.Int64  `tfsdk:"password_wo_version"`
	ServerVersion     types.String `tfsdk:"server_version"`
}

func (r *targetResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("target_resource"),
		Attributes: map[string]schema.Attribute{
			"id":   idAttribute("The target name."),
			"name": nameAttribute("Unique name of the target, which identities name in `target`. Changing it replaces the target."),
			"kind": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(target.KindPostgreSQL),
				MarkdownDescription: "What the target is: `postgresql` (the only kind so far). Changing it replaces the target.",
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{stringvalidator.OneOf(target.KindPostgreSQL)},
			},
			"host": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Host name or address of the server.",
				Validators:          []validator.String{nonEmptyValidator},
			},
			"port": schema.Int64Attribute{
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(5432),
				MarkdownDescription: "TCP port of the server. Defaults to `5432`.",
				Validators:          []validator.Int64{int64validator.Between(1, 65535)},
			},
			"database": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Database the provider connects to; logins' ownerships and privileges there are cleaned up when they are dropped.",
				Validators:          []validator.String{nonEmptyValidator},
			},
			"sslmode": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("verify-full"),
				MarkdownDescription: "libpq `sslmode` of the connection: `disable`, `allow`, `prefer`, `require`, `verify-ca` or `verify-full` (the default: TLS with the server's certificate and name checked, so neither the admin password nor a login's verifier can cross the network in clear). Set `disable` only for a server on loopback or a trusted network.",
				Validators:          []validator.String{stringvalidator.OneOf(postgres.SSLModes...)},
			},
			"username": schema.StringAttribute{
				Required: true,
				MarkdownDescription: "Admin user the engine logs in as: it must be allowed to create, alter and drop roles and to " +
					"grant the roles identities name in `scopes` (`CREATEROLE` with admin option on those roles, or a superuser; " +
					"a superuser also lets drift checks read password verifiers).",
				Validators: []validator.String{nonEmptyValidator},
			},
			"password_wo": schema.StringAttribute{
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
				MarkdownDescription: "Password of `username`, write-only: never stored in state or plan. Required when the target " +
					"is created; sent again when `password_wo_version` changes (or, on Vault, when the connection changes).",
			},
			"password_wo_version": schema.Int64Attribute{
				Optional:            true,
				MarkdownDescription: "Version of `password_wo`: change it to make the engine store a new admin password.",
				Validators:          []validator.Int64{int64validator.AtLeast(1)},
			},
			"server_version": schema.StringAttribute{
				Computed: true,
				MarkdownDescription: "The server's `server_version`, as the engine saw it when it last connected (on Vault, as " +
					"the target's inspector login).",
			},
		},
	}
}

func (r *targetResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.RequiredTogether(path.MatchRoot("password_wo"), path.MatchRoot("password_wo_version")),
	}
}

func (m targetModel) toTarget() engine.Target {
	return engine.Target{Name: m.Name.ValueString(), PasswordVersion: m.PasswordWOVersion.ValueInt64(), Connection: target.Connection{
		Kind: m.Kind.ValueString(), Host: m.Host.ValueString(), Port: m.Port.ValueInt64(), Database: m.Database.ValueString(),
		SSLMode: m.SSLMode.ValueString(), Username: m.Username.ValueString()}}
}

// fromTarget sets the model from t; password_wo stays null, as every write-only value in state.
func (m *targetModel) fromTarget(t engine.Target) {
	m.setName(t.Name)
	m.Kind = types.StringValue(t.Kind)
	m.Host = types.StringValue(t.Host)
	m.Port = types.Int64Value(t.Port)
	m.Database = types.StringValue(t.Database)
	m.SSLMode = types.StringValue(t.SSLMode)
	m.Username = types.StringValue(t.Username)
	m.PasswordWO = types.StringNull()
	m.PasswordWOVersion = types.Int64Null()
	if t.PasswordVersion > 0 {
		m.PasswordWOVersion = types.Int64Value(t.PasswordVersion)
	}
}

// ModifyPlan reports at plan a create whose name the engine holds in a form it cannot adopt.
func (r *targetResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() || !req.Config.Raw.IsFullyKnown() {
		return
	}
	var m targetModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if name, ok := createdName(ctx, req, path.Root("name"), &resp.Diagnostics); ok {
		checkCreate(ctx, &resp.Diagnostics, path.Root("name"), engine.KindTarget, name, m.toTarget(), r.data.engine.GetTarget)
	}
}

// Create writes the target with its admin password (or adopts the target an interrupted apply
// wrote exactly as declared, writing the password again).
func (r *targetResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	password := r.password(ctx, req.Config, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() && password == "" {
		resp.Diagnostics.AddAttributeError(path.Root("password_wo"), "Missing Admin Password",
			"A new target needs the password of its admin user: set password_wo (write-only; it never reaches state) and password_wo_version.")
	}
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "create", func(ctx context.Context, t engine.Target) error {
		return putOrAdopt(ctx, r.data.engine, engine.KindTarget, t.Name, t, r.data.engine.GetTarget,
			func(ctx context.Context, t engine.Target) error { return r.data.engine.PutTarget(ctx, t, password) })
	})
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

// Update writes the target; the admin password goes along when password_wo_version moved or the
// connection changed (Vault writes its connection configuration whole), else the stored one stays.
func (r *targetResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var prior, planned targetModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	resp.Diagnostics.Append(req.Plan.Get(ctx, &planned)...)
	password := r.password(ctx, req.Config, &resp.Diagnostics)
	if planned.PasswordWOVersion.Equal(prior.PasswordWOVersion) && planned.toTarget().Connection == prior.toTarget().Connection {
		password = "" // the engine keeps the stored password
	}
	r.write(ctx, req.Plan, &resp.State, &resp.Diagnostics, "update", func(ctx context.Context, t engine.Target) error {
		return r.data.engine.PutTarget(ctx, t, password)
	})
	setIdentity(ctx, resp.State, resp.Identity, "name", &resp.Diagnostics)
}

// password reads password_wo from the configuration: write-only values are only there.
func (r *targetResource) password(ctx context.Context, config interface {
	GetAttribute(context.Context, path.Path, any) diag.Diagnostics
}, diags *diag.Diagnostics) string {
	var pw types.String
	diags.Append(config.GetAttribute(ctx, path.Root("password_wo"), &pw)...)
	return pw.ValueString()
}

func (r *targetResource) write(ctx context.Context, plan planGetter, state stateSetter, diags *diag.Diagnostics, action string,
	store func(context.Context, engine.Target) error) {
	var m targetModel
	diags.Append(plan.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	t := m.toTarget()
	if err := store(ctx, t); err != nil {
		addEngineError(diags, fmt.Sprintf("%s target %q", action, t.Name), err)
		return
	}
	tflog.Info(ctx, "wrote target", map[string]any{"target": t.Name, "kind": t.Kind, "action": action})
	m.fromTarget(t)
	m.ServerVersion = types.StringValue(r.serverVersion(ctx, t.Name, diags))
	diags.Append(state.Set(ctx, &m)...)
}

// serverVersion checks the target's connection; a target that does not answer is a warning on
// refresh, so that a database outage does not block every plan, and says so.
func (r *targetResource) serverVersion(ctx context.Context, name string, diags *diag.Diagnostics) string {
	version, err := r.data.engine.CheckTarget(ctx, name)
	if err != nil {
		diags.AddWarning("Target Unreachable", fmt.Sprintf("Target %q did not answer the connection check: %v. Credentials on it cannot be issued or revoked until it does.", name, err))
	}
	return version
}

func (r *targetResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m targetModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	setIdentity(ctx, req.State, resp.Identity, "name", &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	t, ok := readFound(ctx, resp, "target", m.Name.ValueString(), r.data.engine.GetTarget)
	if !ok {
		return
	}
	m.fromTarget(t)
	m.ServerVersion = types.StringValue(r.serverVersion(ctx, t.Name, &resp.Diagnostics))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *targetResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	deleteRecord(ctx, req, resp, engine.KindTarget, r.data.engine.DeleteTarget)
}

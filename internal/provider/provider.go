// Package provider is the framework glue of the nhi provider: schemas, plan modifiers and the
// calls into internal/engine and internal/policy. Rules live in policy, storage in engine.
package provider

import (
	"context"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework-validators/providervalidator"
	"github.com/hashicorp/terraform-plugin-framework/action"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/list"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/local"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/vault"
)

var (
	_ provider.Provider                       = (*nhiProvider)(nil)
	_ provider.ProviderWithEphemeralResources = (*nhiProvider)(nil)
	_ provider.ProviderWithConfigValidators   = (*nhiProvider)(nil)
	_ provider.ProviderWithActions            = (*nhiProvider)(nil)
	_ provider.ProviderWithListResources      = (*nhiProvider)(nil)
)

// Environment variables the provider reads.
const (
	envLocalPath = "NHI_LOCAL_PATH"
	envRequester = "NHI_REQUESTER"
)

// providerData is what Configure hands to every resource, data source and ephemeral resource.
type providerData struct {
	engine engine.Engine
	clock  clock.Clock
	// requester names who asks for credentials when a request does not say.
	requester string
}

// nhiProvider is the nhi provider. engine and clock are set only by tests, which inject an
// engine and a fake clock; otherwise Configure opens the configured engine on the wall clock.
type nhiProvider struct {
	version string
	engine  engine.Engine
	clock   clock.Clock
}

type providerModel struct {
	Requester types.String `tfsdk:"requester"`
	Local     *localModel  `tfsdk:"local"`
	Vault     *vaultModel  `tfsdk:"vault"`
}

type localModel struct {
	Path types.String `tfsdk:"path"`
}

type vaultModel struct {
	Address       types.String `tfsdk:"address"`
	Token         types.String `tfsdk:"token"`
	Namespace     types.String `tfsdk:"namespace"`
	Mount         types.String `tfsdk:"mount"`
	AppRoleMount  types.String `tfsdk:"approle_mount"`
	CACert        types.String `tfsdk:"ca_cert"`
	SkipTLSVerify types.Bool   `tfsdk:"skip_tls_verify"`
}

// New returns the provider factory for version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &nhiProvider{version: version} }
}

func (p *nhiProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "nhi"
	resp.Version = p.version
}

func (p *nhiProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Governs the credentials of non-human identities: lifecycle classes, TTL and renewal " +
			"policies, identities and their credentials, applied to a secrets engine. With no engine block the " +
			"embedded local engine is used.",
		Attributes: map[string]schema.Attribute{
			"requester": schema.StringAttribute{
				Optional: true,
				MarkdownDescription: "Who or what requests credentials, recorded in the audit log. Defaults to `" + envRequester +
					"`, then the job identifiers a CI system sets.",
			},
		},
		Blocks: map[string]schema.Block{
			"local": schema.SingleNestedBlock{
				MarkdownDescription: "The embedded local engine (the default): one file, secrets encrypted at rest, " +
					"credentials stored only as hashes.",
				Attributes: map[string]schema.Attribute{
					"path": schema.StringAttribute{
						Optional: true,
						MarkdownDescription: "Path of the engine database. Defaults to `" + envLocalPath + "`, then `" +
							local.DefaultPath + "` under the working directory. The encryption key comes from `" +
							local.KeyEnv + "` or a key file beside the database (created with mode 0600).",
					},
				},
			},
			"vault": schema.SingleNestedBlock{
				MarkdownDescription: "HashiCorp Vault or OpenBao (same API), the engine for real fleets. Each identity " +
					"becomes an identity entity, an AppRole role carrying its TTL policy and an entity alias; governance " +
					"records live as JSON in a KV v2 mount. The first write creates the mounts when absent; plans, " +
					"refresh and drift reports need only a read-only token (see the read-only policy above).",
				Attributes: map[string]schema.Attribute{
					"address": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Server address, such as `https://vault.example.com:8200`. Defaults to `VAULT_ADDR`, then `BAO_ADDR`."},
					"token": schema.StringAttribute{Optional: true, Sensitive: true,
						MarkdownDescription: "Token the provider authenticates with. Defaults to `VAULT_TOKEN`, then `BAO_TOKEN`."},
					"namespace": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Namespace (Vault Enterprise, OpenBao). Defaults to `VAULT_NAMESPACE`."},
					"mount": schema.StringAttribute{Optional: true,
						MarkdownDescription: "KV v2 mount of the provider's records. Defaults to `" + vault.DefaultMount + "`."},
					"approle_mount": schema.StringAttribute{Optional: true,
						MarkdownDescription: "AppRole auth mount of the identities. Defaults to `" + vault.DefaultAppRoleMount + "`."},
					"ca_cert": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Path of a PEM CA certificate to verify the server with. Defaults to `VAULT_CACERT`."},
					"skip_tls_verify": schema.BoolAttribute{Optional: true,
						MarkdownDescription: "Skip TLS verification. For development servers only."},
				},
			},
		},
	}
}

func (p *nhiProvider) ConfigValidators(context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{
		providervalidator.Conflicting(path.MatchRoot("local"), path.MatchRoot("vault")),
	}
}

func (p *nhiProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	data := &providerData{engine: p.engine, clock: p.clock, requester: requesterFrom(cfg.Requester.ValueString())}
	if data.clock == nil {
		data.clock = clock.Real{}
	}
	switch {
	case data.engine != nil:
	case cfg.Vault != nil:
		e, err := openVault(ctx, cfg.Vault, data.clock)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("vault"), "Unable to Connect to Vault", err.Error())
			return
		}
		data.engine = e
	default:
		dbPath := os.Getenv(envLocalPath)
		if cfg.Local != nil && cfg.Local.Path.ValueString() != "" {
			dbPath = cfg.Local.Path.ValueString()
		}
		e, err := openLocal(dbPath, data.clock)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("local").AtName("path"), "Unable to Open the Local Engine", err.Error())
			return
		}
		tflog.Debug(ctx, "opened the local engine", map[string]any{"path": e.Path()})
		data.engine = e
	}
	resp.DataSourceData = data
	resp.ResourceData = data
	resp.EphemeralResourceData = data
	resp.ActionData = data
	resp.ListResourceData = data
}

// openVault connects to Vault or OpenBao; unset attributes fall back to the environment.
func openVault(ctx context.Context, m *vaultModel, clk clock.Clock) (*vault.Engine, error) {
	cfg := vault.Config{
		Address:       m.Address.ValueString(),
		Token:         m.Token.ValueString(),
		Namespace:     m.Namespace.ValueString(),
		Mount:         m.Mount.ValueString(),
		AppRoleMount:  m.AppRoleMount.ValueString(),
		CACert:        m.CACert.ValueString(),
		SkipTLSVerify: m.SkipTLSVerify.ValueBool(),
	}
	cfg.ApplyEnv()
	return vault.Open(ctx, cfg, clk, func(msg string, fields map[string]any) { tflog.Info(ctx, msg, fields) })
}

// localEngines shares one open local engine per database file within this process: the file lock
// is per open file, and in-process acceptance tests configure the provider many times.
var localEngines = struct {
	sync.Mutex
	byPath map[string]*local.Engine
}{byPath: map[string]*local.Engine{}}

func openLocal(dbPath string, clk clock.Clock) (*local.Engine, error) {
	if dbPath == "" {
		dbPath = local.DefaultPath
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, err
	}
	localEngines.Lock()
	defer localEngines.Unlock()
	if e, ok := localEngines.byPath[abs]; ok {
		return e, nil
	}
	e, err := local.Open(abs, local.Options{Clock: clk})
	if err != nil {
		return nil, err
	}
	localEngines.byPath[abs] = e
	return e, nil
}

// requesterFrom resolves who requests credentials: the configured value, NHI_REQUESTER, then
// the identifiers CI systems set for the running job.
func requesterFrom(configured string) string {
	if configured != "" {
		return configured
	}
	if v := os.Getenv(envRequester); v != "" {
		return v
	}
	ciVars := [][2]string{
		{"GITHUB_ACTIONS", "github:" + os.Getenv("GITHUB_REPOSITORY") + "/actions/runs/" + os.Getenv("GITHUB_RUN_ID")},
		{"GITLAB_CI", "gitlab:" + os.Getenv("CI_PROJECT_PATH") + "/-/jobs/" + os.Getenv("CI_JOB_ID")},
		{"BUILDKITE", "buildkite:" + os.Getenv("BUILDKITE_BUILD_URL")},
		{"JENKINS_URL", "jenkins:" + os.Getenv("BUILD_TAG")},
	}
	for _, v := range ciVars {
		if os.Getenv(v[0]) != "" {
			return v[1]
		}
	}
	return ""
}

func (p *nhiProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewLifecycleClassResource,
		NewTTLPolicyResource,
		NewIdentityResource,
		NewRotationScheduleResource,
	}
}

func (p *nhiProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewIdentityDataSource,
		NewIdentitiesDataSource,
		NewAuditLogDataSource,
		NewDriftReportDataSource,
	}
}

func (p *nhiProvider) EphemeralResources(context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{
		NewCredentialEphemeralResource,
		NewSecretEphemeralResource,
	}
}

func (p *nhiProvider) Actions(context.Context) []func() action.Action {
	return []func() action.Action{
		NewRotateAction,
		NewRevokeCredentialsAction,
		NewOffboardAction,
	}
}

func (p *nhiProvider) ListResources(context.Context) []func() list.ListResource {
	return []func() list.ListResource{
		NewLifecycleClassListResource,
		NewTTLPolicyListResource,
		NewIdentityListResource,
		NewRotationScheduleListResource,
	}
}

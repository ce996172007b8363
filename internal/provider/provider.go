// Package provider is the framework glue of the nhi provider: schemas, plan modifiers and the
// calls into internal/engine and internal/policy. Rules live in policy, storage in engine.
package provider

import (
	"context"
	"crypto/cipher"
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
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
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

// providerTypeName is the provider's name, the prefix of every resource's, data source's and
// action's type name.
const providerTypeName = "nhi"

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
	// private seals the private data that ephemeral resources hand to Terraform
	// (newPrivateSealer).
	private cipher.AEAD
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
	Address       types.String       `tfsdk:"address"`
	Addresses     []types.String     `tfsdk:"addresses"`
	RetryWindow   durationValue      `tfsdk:"retry_window"`
	Token         types.String       `tfsdk:"token"`
	TokenFile     types.String       `tfsdk:"token_file"`
	AppRole       *appRoleLoginModel `tfsdk:"auth_login_approle"`
	JWT           *jwtLoginModel     `tfsdk:"auth_login_jwt"`
	Namespace     types.String       `tfsdk:"namespace"`
	Mount         types.String       `tfsdk:"mount"`
	AppRoleMount  types.String       `tfsdk:"approle_mount"`
	AuditLogPath  types.String       `tfsdk:"audit_log_path"`
	CACertFile    types.String       `tfsdk:"ca_cert_file"`
	CACertDir     types.String       `tfsdk:"ca_cert_dir"`
	ClientCert    types.String       `tfsdk:"client_cert"`
	ClientKey     types.String       `tfsdk:"client_key"`
	TLSServerName types.String       `tfsdk:"tls_server_name"`
	SkipTLSVerify types.Bool         `tfsdk:"skip_tls_verify"`
}

type appRoleLoginModel struct {
	Mount        types.String `tfsdk:"mount"`
	RoleID       types.String `tfsdk:"role_id"`
	SecretID     types.String `tfsdk:"secret_id"`
	SecretIDFile types.String `tfsdk:"secret_id_file"`
}

type jwtLoginModel struct {
	Mount   types.String `tfsdk:"mount"`
	Role    types.String `tfsdk:"role"`
	JWT     types.String `tfsdk:"jwt"`
	JWTFile types.String `tfsdk:"jwt_file"`
}

// New returns the provider factory for version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &nhiProvider{version: version} }
}

func (p *nhiProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = providerTypeName
	resp.Version = p.version
}

func (p *nhiProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("provider"),
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
					"addresses": schema.ListAttribute{Optional: true, ElementType: types.StringType,
						MarkdownDescription: "Further nodes of a Vault HA cluster, such as `[\"https://vault-2:8200\", \"https://vault-3:8200\"]`. " +
							"A request that finds no node able to take it (connection refused, a standby without a leader, 429, 502, 503) is " +
							"retried against `address` and these in turn, never against the node a standby redirected it to. Behind a load " +
							"balancer that routes to the active node, set `address` only."},
					"retry_window": schema.StringAttribute{Optional: true, CustomType: durationType{},
						MarkdownDescription: "How long one request is retried, with exponential backoff, through a leader election or a short " +
							"outage before the run fails. Defaults to `30s`. Only refusals that prove Vault did not carry a request out are retried, " +
							"so no write is applied twice."},
					"token": schema.StringAttribute{Optional: true, Sensitive: true,
						MarkdownDescription: "Token the provider authenticates with. Defaults to `VAULT_TOKEN`, then `BAO_TOKEN`, " +
							"unless `token_file` or a login block is set. At most one of `token`, `token_file`, `auth_login_approle` and `auth_login_jwt`."},
					"token_file": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Path of a file holding the token (such as one a Vault Agent sink writes)."},
					"namespace": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Namespace (Vault Enterprise, OpenBao). Defaults to `VAULT_NAMESPACE`."},
					"mount": schema.StringAttribute{Optional: true,
						MarkdownDescription: "KV v2 mount of the provider's records. Defaults to `" + vault.DefaultMount + "`."},
					"approle_mount": schema.StringAttribute{Optional: true,
						MarkdownDescription: "AppRole auth mount of the identities. Defaults to `" + vault.DefaultAppRoleMount + "`."},
					"audit_log_path": schema.StringAttribute{Optional: true, Validators: []validator.String{nonEmptyValidator},
						MarkdownDescription: "Path of the log file of a Vault file audit device (`vault audit enable file " +
							"file_path=...`), readable where the provider runs, from which the provider learns when identities were " +
							"last used (`last_used_at`, `used` events, the `inactive` finding of a class's `max_idle`): the " +
							"successful logins on `approle_mount`. Vault keeps no last-use time for AppRole. The file is read " +
							"incrementally, once per provider run, from its last 64 MiB; logins rotated out of the file, older " +
							"than that, on another node's log, or while the device was off are missed. Unset: last use is " +
							"unknown on Vault (`last_used_at` null, no `inactive` findings)."},
					"ca_cert_file": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Path of a PEM file of CA certificates to verify the server with. Defaults to `VAULT_CACERT`."},
					"ca_cert_dir": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Path of a directory of PEM CA certificates. Defaults to `VAULT_CAPATH`."},
					"client_cert": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Path of the PEM client certificate for servers that require mutual TLS (with `client_key`). Defaults to `VAULT_CLIENT_CERT`."},
					"client_key": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Path of the PEM key of `client_cert`. Defaults to `VAULT_CLIENT_KEY`."},
					"tls_server_name": schema.StringAttribute{Optional: true,
						MarkdownDescription: "Name to verify the server's certificate against (SNI) when it differs from the address's host. Defaults to `VAULT_TLS_SERVER_NAME`."},
					"skip_tls_verify": schema.BoolAttribute{Optional: true,
						MarkdownDescription: "Skip TLS verification. For development servers only."},
				},
				Blocks: map[string]schema.Block{
					"auth_login_approle": schema.SingleNestedBlock{
						MarkdownDescription: "Log in with AppRole. The token obtained is renewed while the provider runs and revoked when it stops.",
						Attributes: map[string]schema.Attribute{
							"mount": schema.StringAttribute{Optional: true,
								MarkdownDescription: "AppRole auth mount to log in at. Defaults to `" + vault.DefaultAppRoleLoginMount + "`."},
							"role_id": schema.StringAttribute{Optional: true,
								MarkdownDescription: "Role ID of the provider's own AppRole role (required in this block)."},
							"secret_id": schema.StringAttribute{Optional: true, Sensitive: true,
								MarkdownDescription: "Secret ID. Exactly one of `secret_id` and `secret_id_file`."},
							"secret_id_file": schema.StringAttribute{Optional: true,
								MarkdownDescription: "Path of a file holding the secret ID."},
						},
					},
					"auth_login_jwt": schema.SingleNestedBlock{
						MarkdownDescription: "Log in with the jwt auth method, as GitHub Actions and GitLab CI jobs do with their " +
							"OIDC ID tokens. The token obtained is renewed while the provider runs and revoked when it stops.",
						Attributes: map[string]schema.Attribute{
							"mount": schema.StringAttribute{Optional: true,
								MarkdownDescription: "JWT auth mount to log in at. Defaults to `" + vault.DefaultJWTLoginMount + "`."},
							"role": schema.StringAttribute{Optional: true,
								MarkdownDescription: "Role of the JWT auth mount to log in as (required in this block)."},
							"jwt": schema.StringAttribute{Optional: true, Sensitive: true,
								MarkdownDescription: "The JWT. Exactly one of `jwt` and `jwt_file`."},
							"jwt_file": schema.StringAttribute{Optional: true,
								MarkdownDescription: "Path of a file holding the JWT."},
						},
					},
				},
			},
		},
	}
}

func (p *nhiProvider) ConfigValidators(context.Context) []provider.ConfigValidator {
	return []provider.ConfigValidator{
		providervalidator.Conflicting(path.MatchRoot("local"), path.MatchRoot("vault")),
		providervalidator.Conflicting(vaultPath("token"), vaultPath("token_file"), vaultPath("auth_login_approle"), vaultPath("auth_login_jwt")),
		providervalidator.Conflicting(vaultPath("auth_login_approle", "secret_id"), vaultPath("auth_login_approle", "secret_id_file")),
		providervalidator.Conflicting(vaultPath("auth_login_jwt", "jwt"), vaultPath("auth_login_jwt", "jwt_file")),
		providervalidator.RequiredTogether(vaultPath("client_cert"), vaultPath("client_key")),
	}
}

// vaultPath matches an attribute or block of the vault block.
func vaultPath(names ...string) path.Expression {
	e := path.MatchRoot("vault")
	for _, n := range names {
		e = e.AtName(n)
	}
	return e
}

func (p *nhiProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	data := &providerData{engine: p.engine, clock: p.clock, requester: requesterFrom(cfg.Requester.ValueString())}
	var err error
	if data.private, err = newPrivateSealer(); err != nil {
		resp.Diagnostics.AddError("Provider Not Configured", "No key to seal private data with: "+err.Error())
		return
	}
	if data.clock == nil {
		data.clock = clock.Real{}
	}
	switch {
	case data.engine != nil:
	case cfg.Vault != nil || (cfg.Local == nil && vaultAddrFromEnv() != ""):
		if cfg.Vault == nil {
			// VAULT_ADDR or BAO_ADDR and no engine block: the user's shell points at a Vault, so
			// that is the engine, never a local file beside the configuration.
			cfg.Vault = &vaultModel{}
			resp.Diagnostics.AddWarning("Using the Vault Engine from the Environment",
				"No engine block is configured and "+vaultAddrFromEnv()+" is set, so the provider uses that Vault (or OpenBao) "+
					"server, not the embedded local engine. Add a `vault {}` block to make this explicit, or a `local {}` block "+
					"to use the local engine.")
		}
		e, err := openVault(ctx, cfg.Vault, data.clock)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("vault"), "Unable to Connect to Vault", err.Error())
			return
		}
		data.engine = e
		openedVaults.add(e)
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

// vaultAddrFromEnv names the variable that points the provider at a Vault, or is empty.
func vaultAddrFromEnv() string {
	for _, v := range []string{"VAULT_ADDR", "BAO_ADDR"} {
		if os.Getenv(v) != "" {
			return v
		}
	}
	return ""
}

// openVault connects to Vault or OpenBao; unset attributes fall back to the environment.
func openVault(ctx context.Context, m *vaultModel, clk clock.Clock) (*vault.Engine, error) {
	cfg := vault.Config{
		Address:      m.Address.ValueString(),
		RetryWindow:  m.RetryWindow.Duration(),
		Token:        m.Token.ValueString(),
		TokenFile:    m.TokenFile.ValueString(),
		Namespace:    m.Namespace.ValueString(),
		Mount:        m.Mount.ValueString(),
		AppRoleMount: m.AppRoleMount.ValueString(),
		AuditLogPath: m.AuditLogPath.ValueString(),
		TLS: vault.TLS{
			CACertFile: m.CACertFile.ValueString(),
			CACertDir:  m.CACertDir.ValueString(),
			ClientCert: m.ClientCert.ValueString(),
			ClientKey:  m.ClientKey.ValueString(),
			ServerName: m.TLSServerName.ValueString(),
			SkipVerify: m.SkipTLSVerify.ValueBool(),
		},
	}
	for _, a := range m.Addresses {
		cfg.Addresses = append(cfg.Addresses, a.ValueString())
	}
	if l := m.AppRole; l != nil {
		cfg.AppRole = &vault.AppRoleLogin{Mount: l.Mount.ValueString(), RoleID: l.RoleID.ValueString(),
			SecretID: l.SecretID.ValueString(), SecretIDFile: l.SecretIDFile.ValueString()}
	}
	if l := m.JWT; l != nil {
		cfg.JWT = &vault.JWTLogin{Mount: l.Mount.ValueString(), Role: l.Role.ValueString(),
			JWT: l.JWT.ValueString(), JWTFile: l.JWTFile.ValueString()}
	}
	cfg.ApplyEnv()
	return vault.Open(ctx, cfg, clk, func(msg string, fields map[string]any) { tflog.Info(ctx, msg, fields) })
}

// openedVaults are the Vault engines this process opened, closed by Shutdown: a token the
// provider obtained by logging in is revoked when Terraform stops the provider.
var openedVaults closers

type closers struct {
	sync.Mutex
	engines []engine.Engine
}

func (c *closers) add(e engine.Engine) {
	c.Lock()
	defer c.Unlock()
	c.engines = append(c.engines, e)
}

// Shutdown closes every Vault engine this process opened: each stops renewing its token and
// revokes the token it obtained from an auth_login_* block. main calls it when Terraform
// stops serving the provider (Terraform waits 2 s for the process to exit before it kills it;
// each revocation is bounded by 1 s). A provider killed outright cannot revoke: its login
// token then expires at the end of its TTL, which the login role should keep short.
func Shutdown() {
	openedVaults.Lock()
	defer openedVaults.Unlock()
	for _, e := range openedVaults.engines {
		_ = e.Close()
	}
	openedVaults.engines = nil
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
		NewOwnerResource,
		NewTargetResource,
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
		NewOwnerListResource,
	}
}

package provider

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

var (
	_ ephemeral.EphemeralResourceWithConfigure = (*credentialEphemeralResource)(nil)
	_ ephemeral.EphemeralResourceWithRenew     = (*credentialEphemeralResource)(nil)
	_ ephemeral.EphemeralResourceWithClose     = (*credentialEphemeralResource)(nil)
)

// renewMargin is how long before expiry Terraform is asked to renew a credential.
const renewMargin = 30 * time.Second

// privateKeyCredential is the private-data key under which Open hands the credential reference
// to Renew and Close. Private data of an ephemeral resource never reaches state or plan.
const privateKeyCredential = "credential"

// NewCredentialEphemeralResource returns the nhi_credential ephemeral resource.
func NewCredentialEphemeralResource() ephemeral.EphemeralResource {
	return &credentialEphemeralResource{ephemeralBase{typeName: "credential"}}
}

type credentialEphemeralResource struct {
	ephemeralBase
}

type credentialModel struct {
	Identity      types.String      `tfsdk:"identity"`
	TTL           durationValue     `tfsdk:"ttl"`
	Purpose       types.String      `tfsdk:"purpose"`
	Requester     types.String      `tfsdk:"requester"`
	Value         types.String      `tfsdk:"value"`
	Username      types.String      `tfsdk:"username"`
	CredentialID  types.String      `tfsdk:"credential_id"`
	ExpiresAt     timetypes.RFC3339 `tfsdk:"expires_at"`
	HardExpiresAt timetypes.RFC3339 `tfsdk:"hard_expires_at"`
	RenewalsLeft  types.Int64       `tfsdk:"renewals_left"`
	Scopes        types.Set         `tfsdk:"scopes"`
}

// credentialRef is what Renew and Close need: the credential and proof of holding it.
type credentialRef struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Secret   string `json:"secret"`
}

func (r *credentialEphemeralResource) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: description("credential_ephemeral_resource"),
		Attributes: map[string]schema.Attribute{
			"identity": schema.StringAttribute{
				Required:            true,
				MarkdownDescription: "Name of the ephemeral `nhi_identity` to issue the credential for. Persistent and retired identities are refused.",
				Validators:          []validator.String{nameValidator},
			},
			"ttl": schema.StringAttribute{
				CustomType:          durationType{},
				Validators:          []validator.String{positiveDurationValidator},
				Optional:            true,
				MarkdownDescription: "Requested lifetime, at most the TTL of the identity's policy. Defaults to the policy's TTL.",
			},
			"purpose": schema.StringAttribute{
				Optional:            true,
				MarkdownDescription: "What the credential is for, recorded in the audit log.",
			},
			"requester": schema.StringAttribute{
				Optional:            true,
				Computed:            true,
				MarkdownDescription: "Who or what requests the credential, recorded in the audit log. Defaults to the provider's `requester`, then `" + envRequester + "`, then the CI job identifiers a CI system sets.",
			},
			"value": schema.StringAttribute{
				Computed:            true,
				Sensitive:           true,
				MarkdownDescription: "The secret. Ephemeral: never written to state or plan.",
			},
			"username": schema.StringAttribute{
				Computed: true,
				MarkdownDescription: "When the identity has a `target`: the login's user name there (`value` is its password), " +
					"named after the identity and the credential. Null for the engine's own credentials.",
			},
			"credential_id": schema.StringAttribute{
				Computed:            true,
				MarkdownDescription: "The engine's identifier of the credential, as it appears in the audit log.",
			},
			"expires_at": schema.StringAttribute{
				CustomType:          timetypes.RFC3339Type{},
				Computed:            true,
				MarkdownDescription: "When the credential expires unless renewed (RFC 3339).",
			},
			"hard_expires_at": schema.StringAttribute{
				CustomType:          timetypes.RFC3339Type{},
				Computed:            true,
				MarkdownDescription: "When the credential expires whatever renewals happen (RFC 3339).",
			},
			"renewals_left": schema.Int64Attribute{
				Computed:            true,
				MarkdownDescription: "Renewals left in the budget; -1 when only the hard expiry bounds renewal.",
			},
			"scopes": schema.SetAttribute{
				ElementType: types.StringType,
				Computed:    true,
				MarkdownDescription: "The scopes the credential grants: its identity's declared scopes when it was issued (on " +
					"Vault, the ACL policies its role gave the token, unless the role drifted). Null when it grants none.",
			},
		},
	}
}

func (r *credentialEphemeralResource) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m credentialModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	requester := m.Requester.ValueString()
	if requester == "" {
		requester = r.data.requester
	}
	identity := m.Identity.ValueString()
	cred, secret, err := r.data.engine.IssueCredential(ctx, engine.CredentialRequest{
		Identity: identity, TTL: m.TTL.Duration(), Requester: requester, Purpose: m.Purpose.ValueString(),
	})
	if err != nil {
		addCredentialError(&resp.Diagnostics, identity, !m.TTL.IsNull(), err)
		return
	}
	tflog.Info(ctx, "issued credential", map[string]any{"identity": identity, "credential": cred.ID, "requester": requester})
	ref, err := r.sealRef(credentialRef{ID: cred.ID, Identity: identity, Secret: secret})
	if err != nil {
		// Without its reference Close could not revoke it: revoke it now.
		_ = engine.RevokeCredentialOf(ctx, r.data.engine, identity, cred.ID)
		resp.Diagnostics.AddError("Credential Not Issued", fmt.Sprintf("Credential %q of identity %q was revoked at once: its reference could not be sealed: %v", cred.ID, identity, err))
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateKeyCredential, ref)...)

	m.Requester = types.StringValue(requester)
	m.Value = types.StringValue(secret)
	m.Username = optString(cred.Username)
	m.CredentialID = types.StringValue(cred.ID)
	m.ExpiresAt = timetypes.NewRFC3339TimeValue(cred.ExpiresAt)
	m.HardExpiresAt = timetypes.NewRFC3339TimeValue(cred.HardExpiresAt)
	m.RenewalsLeft = types.Int64Value(cred.RenewalsLeft)
	m.Scopes = setOf(cred.Scopes)
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
	resp.RenewAt = renewAt(cred)
}

// renewAt is when Terraform should renew the credential; zero when it cannot be renewed, so
// it simply expires.
func renewAt(c engine.Credential) time.Time {
	if c.RenewalsLeft == 0 || !c.ExpiresAt.Before(c.HardExpiresAt) {
		return time.Time{}
	}
	at := c.ExpiresAt.Add(-renewMargin)
	if at.Before(c.IssuedAt) {
		at = c.IssuedAt
	}
	return at
}

// newPrivateSealer returns a cipher under a random key that lives only in this provider process.
// Terraform keeps an ephemeral resource's private data in memory and hands it back to the same
// process's Renew and Close, so private data sealed with it is readable there and nowhere else:
// the secret that proves possession of a credential never leaves the process in clear.
func newPrivateSealer() (cipher.AEAD, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealRef is ref sealed by the provider's private key, as the JSON the framework requires of
// private data (a string: nonce and sealed reference, base64).
func (r *credentialEphemeralResource) sealRef(ref credentialRef) ([]byte, error) {
	plain, err := json.Marshal(ref)
	if err != nil {
		return nil, err
	}
	aead := r.data.private
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return json.Marshal(aead.Seal(nonce, nonce, plain, []byte(privateKeyCredential)))
}

// readRef opens the credential reference that Open sealed into private.
func (r *credentialEphemeralResource) readRef(ctx context.Context, private interface {
	GetKey(context.Context, string) ([]byte, diag.Diagnostics)
}, diags *diag.Diagnostics) (credentialRef, bool) {
	var ref credentialRef
	raw, d := private.GetKey(ctx, privateKeyCredential)
	diags.Append(d...)
	if diags.HasError() || raw == nil {
		return ref, false
	}
	var sealed []byte
	err := json.Unmarshal(raw, &sealed)
	aead := r.data.private
	if err == nil && len(sealed) < aead.NonceSize() {
		err = errors.New("too short")
	}
	if err == nil {
		var plain []byte
		plain, err = aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(privateKeyCredential))
		if err == nil {
			err = json.Unmarshal(plain, &ref)
		}
	}
	if err != nil {
		diags.AddError("Corrupt Credential Reference", "The private data of nhi_credential could not be read (it is readable only by the "+
			"provider process that opened the credential, which revokes it when Terraform closes it; otherwise it expires): "+err.Error())
		return ref, false
	}
	return ref, true
}

func (r *credentialEphemeralResource) Renew(ctx context.Context, req ephemeral.RenewRequest, resp *ephemeral.RenewResponse) {
	ref, ok := r.readRef(ctx, req.Private, &resp.Diagnostics)
	if !ok {
		return
	}
	cred, err := r.data.engine.RenewCredential(ctx, ref.ID, ref.Secret)
	if errors.Is(err, engine.ErrDenied) {
		// The budget is spent or the hard expiry reached: the credential simply expires.
		tflog.Info(ctx, "credential not renewed; it expires", map[string]any{"identity": ref.Identity, "credential": ref.ID, "reason": err.Error()})
		return
	}
	if err != nil {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("renew credential %q of identity %q", ref.ID, ref.Identity), err)
		return
	}
	tflog.Info(ctx, "renewed credential", map[string]any{"identity": ref.Identity, "credential": ref.ID, "renewals_left": cred.RenewalsLeft})
	resp.RenewAt = renewAt(cred)
}

func (r *credentialEphemeralResource) Close(ctx context.Context, req ephemeral.CloseRequest, resp *ephemeral.CloseResponse) {
	ref, ok := r.readRef(ctx, req.Private, &resp.Diagnostics)
	if !ok {
		return
	}
	err := engine.RevokeCredentialOf(ctx, r.data.engine, ref.Identity, ref.ID)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		addEngineError(&resp.Diagnostics, fmt.Sprintf("revoke credential %q of identity %q", ref.ID, ref.Identity), err)
		return
	}
	tflog.Info(ctx, "revoked credential", map[string]any{"identity": ref.Identity, "credential": ref.ID})
}

// addCredentialError explains why a credential was refused, on the attribute at fault.
func addCredentialError(diags *diag.Diagnostics, identity string, ttlSet bool, err error) {
	switch {
	case errors.Is(err, engine.ErrRetired):
		diags.AddAttributeError(path.Root("identity"), "Identity Retired",
			fmt.Sprintf("Identity %q is retired: it gets no credentials. Retired identities are kept for audit only.", identity))
	case errors.Is(err, engine.ErrNotFound):
		diags.AddAttributeError(path.Root("identity"), "Identity Not Found",
			fmt.Sprintf("The engine holds no identity %q (%v). Create it with nhi_identity first.", identity, err))
	case errors.Is(err, engine.ErrInvalid):
		at := path.Root("identity")
		if ttlSet {
			at = path.Root("ttl")
		}
		diags.AddAttributeError(at, "Credential Refused by Policy",
			fmt.Sprintf("No credential for identity %q: %v. Request a ttl within the identity's TTL policy; persistent identities use a rotated secret (nhi_secret) instead.", identity, err))
	default:
		addEngineError(diags, fmt.Sprintf("issue a credential for identity %q", identity), err)
	}
}

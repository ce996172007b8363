package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// vaultErr maps the error of one Vault request (op on path) to the engine's typed errors,
// naming the path. retryTransport has already retried refused connections and 429, 502 and
// 503 answers within the retry window, so those are reported as ErrUnavailable. Vault's own error messages
// never carry secrets, and neither do paths, so the result is safe to log.
func (e *Engine) vaultErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s %s at %s: %v", engine.ErrUnavailable, op, path, e.addr, err)
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("%w: cannot reach Vault at %s (%s %s): %v", engine.ErrUnavailable, e.addr, op, path, err)
	}
	detail := strings.Join(re.Errors, "; ")
	switch code := re.StatusCode; {
	case code == http.StatusNotFound:
		return fmt.Errorf("%s: %w", path, engine.ErrNotFound)
	case code == http.StatusForbidden:
		return fmt.Errorf("permission denied on %s (%s): the Vault token's policies do not allow it: give the token the apply "+
			"policy of the provider's Vault set-up guide (docs/guides/vault.md), or its read-only policy for plans and drift reports: %w", path, op, engine.ErrDenied)
	case code == http.StatusServiceUnavailable && strings.Contains(detail, "sealed"):
		return fmt.Errorf("%w: Vault at %s is sealed (%s %s): unseal it and retry", engine.ErrUnavailable, e.addr, op, path)
	case code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("%w: Vault at %s answered %d to %s %s (retried within the retry window, %s): %s", engine.ErrUnavailable, e.addr, code, op, path, e.retryWindow, detail)
	case strings.Contains(detail, "check-and-set"):
		return fmt.Errorf("%s was changed by another writer (%s): %w", path, detail, engine.ErrConflict)
	default:
		return fmt.Errorf("%s %s: Vault answered %d: %s: %w", op, path, code, detail, engine.ErrInvalid)
	}
}

package plugins

import (
	"context"
	"errors"
	"strings"

	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// checkKey answers a plugin's KeyCheck: whether the key is registered to
// the account named, for a plugin trusted with key logins
// (plugins.<name>.trust_key_logins). The SSH plugin offers a client only
// the keys that would log it in, so that OpenSSH, told no, goes on to ask
// for the password. It is advice for the handshake: the session's Connect
// carries the credentials, which are checked again.
func (r *runner) checkKey(ctx context.Context, kc *portalpb.KeyCheck) {
	accepted := false
	if r.trustKeys.Load() && len(kc.GetPublicKey()) > 0 {
		_, err := r.m.store.AuthenticateKey(ctx, strings.TrimSpace(kc.GetName()), kc.GetPublicKey())
		switch {
		case err == nil:
			accepted = true
		case !errors.Is(err, store.ErrBadCredentials):
			r.log.Error("key check", "name", kc.GetName(), "err", err)
		}
	}
	r.send(&portalpb.Event{Kind: &portalpb.Event_KeyChecked{KeyChecked: &portalpb.KeyChecked{
		Id: kc.GetId(), Accepted: accepted}}})
}

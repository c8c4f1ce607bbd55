package main

import (
	"bytes"
	"context"
	"strings"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/portico-mud/portico/sdk"
	gossh "golang.org/x/crypto/ssh"
)

// Authentication follows Evennia's SSH portal: every password gets in, and
// the host decides who it is. The plugin records what the client proved
// (a password it typed, a key it signed with) and hands it to the host
// with the session's Connect; right credentials log the session straight
// in, wrong ones land on the normal login screen.
//
// What the client proved is recorded in the Permissions the successful
// auth callback returns, never in values an earlier callback left behind.
// gliderlabs/ssh keeps the last key its PublicKeyHandler admitted in the
// connection's context, and a client may offer (query) a key without
// holding its private half, then log in with a password: that key must
// not log anyone in (CVE-2024-45337, gliderlabs/ssh#242). x/crypto/ssh
// calls VerifiedPublicKeyCallback only after the signature was checked,
// and ServerConn.Permissions holds the Permissions of the method that
// succeeded, so those two are what the session handler trusts.

// Permissions extension keys this plugin's auth callbacks set.
const (
	extMethod   = "portico-auth-method"
	extPassword = "portico-password"
	extKey      = "portico-public-key"
)

// Auth method names, as SSH spells them.
const (
	methodPassword    = "password"
	methodKeyboard    = "keyboard-interactive"
	methodPublicKey   = "publickey"
	passwordQuestion  = "Password: "
	maxCredentialName = 256
)

// serverConfig is gliderlabs' ServerConfigCallback, called once per
// connection: the auth callbacks that record credentials. gliderlabs adds
// its own PasswordCallback or KeyboardInteractiveCallback only when its
// handlers are set, and they are not; its PublicKeyHandler (admitKey)
// stays, since it also keeps the "none" method from succeeding. The
// AuthLogCallback tells the connection's guard when authentication
// succeeded, which ends its login_grace.
func (p *Plugin) serverConfig(ctx gliderssh.Context) *gossh.ServerConfig {
	return &gossh.ServerConfig{
		PasswordCallback:            passwordCallback,
		KeyboardInteractiveCallback: keyboardInteractiveCallback,
		VerifiedPublicKeyCallback:   verifiedKeyCallback,
		AuthLogCallback: func(_ gossh.ConnMetadata, _ string, err error) {
			// x/crypto calls it after every attempt; err is nil only for
			// the one that succeeded, right before it tells the client.
			if err != nil {
				return
			}
			if g := guardOf(ctx); g != nil {
				g.authenticated()
			}
		},
	}
}

// keyCheckTimeout bounds how long admitKey waits for the host's answer.
const keyCheckTimeout = 5 * time.Second

// admitKey is gliderlabs' PublicKeyHandler, asked for every key a client
// offers, before the client signs with it: it admits only the keys the
// host says log the SSH user name's account in. OpenSSH offers every key
// in ~/.ssh in turn and, when none is admitted, goes on to ask for the
// password (keyboard-interactive, then password): a player with an
// unregistered key must be asked for the password, not land on the login
// screen. The answer is advice: the key the client then proves it holds is
// checked by the host again when the session connects. Without an answer
// (no host within keyCheckTimeout, as during a long reload) the key is
// admitted and the host decides at the connect, as without the check.
func (p *Plugin) admitKey(ctx gliderssh.Context, key gliderssh.PublicKey) bool {
	cctx, cancel := context.WithTimeout(ctx, keyCheckTimeout)
	defer cancel()
	ok, err := p.portal.CheckKey(cctx, cleanName(ctx.User()), key.Marshal())
	if err != nil {
		p.log.Debug("ssh: key check unanswered; the key is admitted", "addr", ctx.RemoteAddr().String(), "err", err)
		return true
	}
	return ok
}

func passwordCallback(_ gossh.ConnMetadata, password []byte) (*gossh.Permissions, error) {
	return &gossh.Permissions{Extensions: map[string]string{
		extMethod: methodPassword, extPassword: string(password)}}, nil
}

// keyboardInteractiveCallback asks for a password, as an SSH server with
// passwords does: OpenSSH tries keyboard-interactive before password, and
// a client without keys then gets the password prompt it expects. An
// empty answer leads to the login screen.
func keyboardInteractiveCallback(_ gossh.ConnMetadata, challenge gossh.KeyboardInteractiveChallenge) (*gossh.Permissions, error) {
	answers, err := challenge("", "", []string{passwordQuestion}, []bool{false})
	if err != nil {
		return nil, err
	}
	perms := &gossh.Permissions{Extensions: map[string]string{extMethod: methodKeyboard}}
	if len(answers) == 1 {
		perms.Extensions[extPassword] = answers[0]
	}
	return perms, nil
}

func verifiedKeyCallback(_ gossh.ConnMetadata, key gossh.PublicKey, _ *gossh.Permissions, _ string) (*gossh.Permissions, error) {
	return &gossh.Permissions{Extensions: map[string]string{
		extMethod: methodPublicKey, extKey: string(key.Marshal())}}, nil
}

// credentials returns what the client proved while logging in on conn
// perms (ServerConn.Permissions), for user. ctxKey is the key gliderlabs
// recorded (Session.PublicKey()); a verified key must match it, a second
// check that costs nothing. ok is false when there is nothing to check:
// no password given, or a method that proves nothing.
func credentials(perms *gossh.Permissions, user string, ctxKey gliderssh.PublicKey) (c sdk.Credentials, ok bool) {
	if perms == nil {
		return sdk.Credentials{}, false
	}
	name := cleanName(user)
	ext := perms.Extensions
	switch ext[extMethod] {
	case methodPassword, methodKeyboard:
		pw := ext[extPassword]
		if pw == "" {
			return sdk.Credentials{}, false
		}
		return sdk.Credentials{Name: name, Password: strings.ToValidUTF8(pw, "\uFFFD")}, true
	case methodPublicKey:
		wire := []byte(ext[extKey])
		if len(wire) == 0 || ctxKey == nil || !bytes.Equal(ctxKey.Marshal(), wire) {
			return sdk.Credentials{}, false
		}
		return sdk.Credentials{Name: name, PublicKey: wire}, true
	}
	return sdk.Credentials{}, false
}

// cleanName makes an SSH user name safe to carry: valid UTF-8 (the
// contract's strings must be) and bounded.
func cleanName(user string) string {
	if len(user) > maxCredentialName {
		user = user[:maxCredentialName]
	}
	return strings.ToValidUTF8(user, "\uFFFD")
}

package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-mud/portico/core/store"
)

// The account commands of the command line (portico account list, show,
// delete, passwd, admin). They run in the host, over the control socket,
// when one is up, so that its sessions follow (a deleted account's
// sessions end, a new admin has the admin commands at once); and on the
// database directly otherwise. Both run accountOps.

// Control commands of the account operations.
const (
	cmdAccountList   = "account_list"
	cmdAccountShow   = "account_show"
	cmdAccountDelete = "account_delete"
	cmdAccountPasswd = "account_passwd"
	cmdAccountAdmin  = "account_admin"
)

// ReasonAccountDeleted is what the sessions of a deleted account are told.
const ReasonAccountDeleted = "Your account has been deleted."

// AccountInfo is one account as `portico account list` and `show` give it.
type AccountInfo struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	Created   time.Time `json:"created"`
	LastLogin time.Time `json:"last_login,omitzero"`
	// Sessions counts the account's sessions in the running host (0 when
	// none runs).
	Sessions int `json:"sessions"`
	// Bot names the bridge bot whose account this is.
	Bot string `json:"bot,omitempty"`
	// Characters and SSHKeys are filled by show only.
	Characters []string `json:"characters,omitempty"`
	SSHKeys    []string `json:"ssh_keys,omitempty"`
}

// liveAccounts is what a running host does beside the store when an
// account changes: nil when no host runs.
type liveAccounts interface {
	// sessionCounts returns how many sessions each account has.
	sessionCounts(ctx context.Context) (map[int64]int, error)
	// endSessions ends the account's sessions, telling them reason, and
	// returns how many there were.
	endSessions(ctx context.Context, id int64, reason string) (int, error)
	// setAdmin updates the account's logged-in sessions.
	setAdmin(ctx context.Context, id int64, admin bool) error
}

// accountOps runs the account control commands on st.
type accountOps struct {
	st   *store.Store
	live liveAccounts
}

// do answers one account request: name in req.Args["name"], the new
// password in "password", "revoke" set for an admin revoke.
func (o accountOps) do(ctx context.Context, req accountRequest) (any, error) {
	if req.Cmd == cmdAccountList {
		return o.list(ctx)
	}
	name := strings.TrimSpace(req.Args["name"])
	a, err := o.st.AccountByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no account named %q", name)
	}
	if err != nil {
		return nil, err
	}
	switch req.Cmd {
	case cmdAccountShow:
		return o.show(ctx, a)
	case cmdAccountDelete:
		return o.delete(ctx, a)
	case cmdAccountPasswd:
		if err := o.st.SetPassword(ctx, a.ID, req.Args["password"]); err != nil {
			return nil, passwordError(err)
		}
		return map[string]string{"message": fmt.Sprintf("password of %s changed", a.Name)}, nil
	case cmdAccountAdmin:
		admin := req.Args["revoke"] == ""
		if err := o.st.SetAdmin(ctx, a.ID, admin); err != nil {
			return nil, err
		}
		if o.live != nil {
			if err := o.live.setAdmin(ctx, a.ID, admin); err != nil {
				return nil, err
			}
		}
		what := "is now an admin"
		if !admin {
			what = "is no longer an admin"
		}
		return map[string]string{"message": a.Name + " " + what}, nil
	}
	return nil, fmt.Errorf("control: unknown command %q", req.Cmd)
}

// passwordError says what is wrong with a refused password without the
// store's "store: ..." context.
func passwordError(err error) error {
	if !errors.Is(err, store.ErrInvalidPassword) {
		return err
	}
	msg := err.Error()
	return errors.New("password " + msg[strings.LastIndex(msg, ": ")+2:])
}

// botAccounts maps the accounts of bridge bots to the bots' names.
func (o accountOps) botAccounts(ctx context.Context) (map[int64]string, error) {
	bots, err := o.st.Bots(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, b := range bots {
		out[b.AccountID] = b.Name
	}
	return out, nil
}

func (o accountOps) info(a store.Account, counts map[int64]int, bots map[int64]string) AccountInfo {
	return AccountInfo{ID: a.ID, Name: a.Name, Admin: a.IsAdmin, Created: a.Created, LastLogin: a.LastLogin,
		Sessions: counts[a.ID], Bot: bots[a.ID]}
}

func (o accountOps) list(ctx context.Context) ([]AccountInfo, error) {
	all, err := o.st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	bots, err := o.botAccounts(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[int64]int{}
	if o.live != nil {
		if counts, err = o.live.sessionCounts(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]AccountInfo, 0, len(all))
	for _, a := range all {
		out = append(out, o.info(a, counts, bots))
	}
	return out, nil
}

func (o accountOps) show(ctx context.Context, a store.Account) (AccountInfo, error) {
	bots, err := o.botAccounts(ctx)
	if err != nil {
		return AccountInfo{}, err
	}
	counts := map[int64]int{}
	if o.live != nil {
		if counts, err = o.live.sessionCounts(ctx); err != nil {
			return AccountInfo{}, err
		}
	}
	info := o.info(a, counts, bots)
	chars, err := o.st.CharactersOf(ctx, a.ID)
	if err != nil {
		return AccountInfo{}, err
	}
	for _, c := range chars {
		info.Characters = append(info.Characters, c.Name)
	}
	keys, err := o.st.SSHKeys(ctx, a.ID)
	if err != nil {
		return AccountInfo{}, err
	}
	for _, k := range keys {
		info.SSHKeys = append(info.SSHKeys, strings.TrimSpace(k.Fingerprint+" "+k.Comment))
	}
	return info, nil
}

// delete ends the account's sessions, then deletes it. A bot's account
// is refused: removing the bot is what deletes it.
func (o accountOps) delete(ctx context.Context, a store.Account) (map[string]any, error) {
	bots, err := o.botAccounts(ctx)
	if err != nil {
		return nil, err
	}
	if bot, ok := bots[a.ID]; ok {
		return nil, fmt.Errorf("%s is the account of bot %s: remove the bot instead (portico bot remove %s)", a.Name, bot, bot)
	}
	ended := 0
	if o.live != nil {
		if ended, err = o.live.endSessions(ctx, a.ID, ReasonAccountDeleted); err != nil {
			return nil, err
		}
	}
	if err := o.st.DeleteAccount(ctx, a.ID); err != nil {
		return nil, err
	}
	return map[string]any{"message": fmt.Sprintf("deleted account %s (#%d)", a.Name, a.ID), "sessions_ended": ended}, nil
}

// accountRequest is a control request as accountOps takes it.
type accountRequest struct {
	Cmd  string
	Args map[string]string
}

// hostAccounts lets the running host's sessions follow account changes;
// each runs on the loop.
type hostAccounts struct{ h *Host }

func (l hostAccounts) sessionCounts(ctx context.Context) (map[int64]int, error) {
	out := map[int64]int{}
	err := l.h.handler.Call(ctx, func() {
		for _, s := range l.h.handler.Sessions() {
			if s.LoggedIn {
				out[s.UID]++
			}
		}
	})
	return out, err
}

func (l hostAccounts) endSessions(ctx context.Context, id int64, reason string) (int, error) {
	n := 0
	err := l.h.handler.Call(ctx, func() {
		for _, s := range l.h.handler.SessionsFromAccount(id) {
			l.h.handler.Disconnect(s, reason, true)
			n++
		}
	})
	return n, err
}

func (l hostAccounts) setAdmin(ctx context.Context, id int64, admin bool) error {
	return l.h.handler.Call(ctx, func() {
		for _, s := range l.h.handler.SessionsFromAccount(id) {
			if s.Account != nil {
				s.Account.IsAdmin = admin
			}
		}
	})
}

var _ liveAccounts = hostAccounts{}

// controlAccount answers an account control command in the running host.
func (h *Host) controlAccount(ctx context.Context, cmd string, args map[string]string) (any, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return accountOps{st: h.store, live: hostAccounts{h}}.do(cctx, accountRequest{Cmd: cmd, Args: args})
}

// offlineAccount runs an account command on the database directly, for
// the command line when no host runs, and returns its answer as the
// control socket would.
func offlineAccount(ctx context.Context, st *store.Store, cmd string, args map[string]string) (json.RawMessage, error) {
	v, err := accountOps{st: st}.do(ctx, accountRequest{Cmd: cmd, Args: args})
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

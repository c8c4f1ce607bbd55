package host

import (
	"context"
	"fmt"
	"time"

	"github.com/portico-mud/portico/core/control"
)

// controlOps answers the operator's control commands beside the ones
// Host.control keeps: accounts, limits, plugin and bot restarts, backups,
// revocations of remote plugins.
func (h *Host) controlOps(ctx context.Context, req control.Request) (any, <-chan struct{}, error) {
	switch req.Cmd {
	case cmdAccountList, cmdAccountShow, cmdAccountDelete, cmdAccountPasswd, cmdAccountAdmin:
		data, err := h.controlAccount(ctx, req.Cmd, req.Args)
		return data, nil, err
	case cmdLimitsClear:
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var n int
		err := h.handler.Call(cctx, func() { n = h.handler.ClearThrottles(req.Args["target"]) })
		if err == nil {
			h.log.Info("throttles cleared", "by", "portico limits clear", "target", req.Args["target"], "counters", n)
		}
		return map[string]int{"cleared": n}, nil, err
	case cmdPluginRestart:
		name := req.Args["name"]
		if err := h.manager.Restart(name, fmt.Sprintf("The %s service is restarting. Please reconnect.", name)); err != nil {
			return nil, nil, err
		}
		return map[string]string{"message": "restarting plugin " + name}, nil, nil
	case cmdBotRestart:
		return h.restartBot(ctx, req.Args["name"])
	case cmdPortalRevoke:
		return h.revokePortal(req)
	}
	return nil, nil, fmt.Errorf("control: unknown command %q", req.Cmd)
}

// Control commands of `portico plugin restart` and `portico bot restart`.
const (
	cmdPluginRestart = "plugin_restart"
	cmdBotRestart    = "bot_restart"
)

// ReasonBotRestart is what a restarted bot's session is closed with (an
// IRC bot's QUIT message).
const ReasonBotRestart = "Restarting."

// restartBot ends bot name's session and starts the bot again, as `portico
// bot restart` asks.
func (h *Host) restartBot(ctx context.Context, name string) (any, <-chan struct{}, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rerr error
	err := h.handler.Call(cctx, func() {
		b, ok := h.channels.BotByName(name)
		if !ok {
			rerr = fmt.Errorf("no bot named %q", name)
			return
		}
		for _, s := range h.handler.SessionsFromAccount(b.AccountID) {
			h.handler.Disconnect(s, ReasonBotRestart, true)
		}
		h.log.Info("bot restart asked for", "bot", b.Name)
		h.commands.StartBot(b)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, nil, err
	}
	return map[string]string{"message": "restarting bot " + name}, nil, nil
}

package host

import (
	"context"
	"fmt"
	"time"

	"github.com/portico-mud/portico/core/control"
)

// controlOps answers the operator's control commands beside the ones
// Host.control keeps: accounts, limits, plugin and bot restarts, backups.
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
	}
	return nil, nil, fmt.Errorf("control: unknown command %q", req.Cmd)
}

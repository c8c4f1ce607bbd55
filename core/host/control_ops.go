package host

import (
	"context"
	"fmt"

	"github.com/portico-mud/portico/core/control"
)

// controlOps answers the operator's control commands beside the ones
// Host.control keeps: accounts, limits, plugin and bot restarts, backups.
func (h *Host) controlOps(ctx context.Context, req control.Request) (any, <-chan struct{}, error) {
	switch req.Cmd {
	case cmdAccountList, cmdAccountShow, cmdAccountDelete, cmdAccountPasswd, cmdAccountAdmin:
		data, err := h.controlAccount(ctx, req.Cmd, req.Args)
		return data, nil, err
	}
	return nil, nil, fmt.Errorf("control: unknown command %q", req.Cmd)
}

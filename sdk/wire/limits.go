package wire

import (
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

// LimitsToPB and LimitsFromPB are the one place that maps Limits to
// the wire. The wire (HostInfo) carries only the limits plugins enforce
// today, field by field; the others reach a plugin as 0. A limit that a
// plugin must see needs a HostInfo field and a line in each.
func LimitsToPB(l contract.Limits, h *portalpb.HostInfo) {
	h.MaxInputLength = clampUint32(l.MaxInputLength)
	h.ConnectionRate = clampUint32(l.ConnectionRate)
	h.ConnectionsPerIp = clampUint32(l.ConnectionsPerIP)
	h.ConnectionQueueWaitMs = l.ConnectionQueueWait.Milliseconds()
	h.LimitsExempt = l.Exempt.List()
	h.TrustedProxies = l.TrustedProxies.List()
}

// LimitsFromPB reads the limits LimitsToPB put into h.
func LimitsFromPB(h *portalpb.HostInfo) contract.Limits {
	return contract.Limits{
		MaxInputLength:      int(h.GetMaxInputLength()),
		ConnectionRate:      int(h.GetConnectionRate()),
		ConnectionsPerIP:    int(h.GetConnectionsPerIp()),
		ConnectionQueueWait: time.Duration(h.GetConnectionQueueWaitMs()) * time.Millisecond,
		Exempt:              contract.JoinAddresses(h.GetLimitsExempt()),
		TrustedProxies:      contract.JoinAddresses(h.GetTrustedProxies()),
	}
}

// clampUint32 fits a validated (never negative) limit into a wire field.
func clampUint32(n int) uint32 {
	if n < 0 {
		return 0
	}
	return uint32(min(int64(n), int64(^uint32(0))))
}

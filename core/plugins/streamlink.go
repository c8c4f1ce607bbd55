package plugins

import (
	"context"
	"errors"

	"github.com/portico-mud/portico/sdk/portalpb"
	"github.com/portico-mud/portico/sdk/wire"
)

// streamLink is a run's link over the gRPC Link stream, for a plugin that
// offers no data socket (see datalink.go): one goroutine sends what the
// outbox queues, as batched frames, and serve receives.
type streamLink struct {
	r        *runner
	stream   portalpb.Portal_LinkClient
	outbox   *wire.Outbox
	stopSend context.CancelFunc
	// sendDone is closed when the sending goroutine has returned.
	sendDone chan struct{}
}

// openStreamLink opens the Link stream and starts its sender.
func (r *runner) openStreamLink(ctx context.Context, portal portalpb.PortalClient, outbox *wire.Outbox) (*streamLink, error) {
	stream, err := portal.Link(ctx)
	if err != nil {
		return nil, err
	}
	sctx, stopSend := context.WithCancel(ctx)
	l := &streamLink{r: r, stream: stream, outbox: outbox, stopSend: stopSend, sendDone: make(chan struct{})}
	go func() {
		defer close(l.sendDone)
		if err := outbox.Run(sctx, stream.Send); err != nil && !errors.Is(err, context.Canceled) {
			r.log.Warn("link: send", "err", err)
		}
	}()
	return l, nil
}

func (l *streamLink) serve(ctx context.Context) error {
	for {
		f, err := l.stream.Recv()
		if err != nil {
			return err
		}
		l.r.handleFrame(ctx, f)
	}
}

func (l *streamLink) finish() {
	l.stopSend()
	<-l.sendDone
	if err := l.outbox.Flush(l.stream.Send); err != nil {
		l.r.log.Warn("flush before reload", "err", err)
	}
	if err := l.stream.CloseSend(); err != nil {
		l.r.log.Warn("close link before reload", "err", err)
	}
}

func (l *streamLink) close() {
	l.stopSend()
	<-l.sendDone
}

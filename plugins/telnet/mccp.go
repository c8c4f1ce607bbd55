package main

// The connection's output stream and MCCP2 (MUD Client Compression Protocol
// v2): after the client's DO MCCP2, the server sends IAC SB MCCP2 IAC SE in
// clear and everything after it as one zlib stream, flushed (sync flush) at
// the end of every output batch so that the client shows it at once. The
// stream is ended cleanly (final block and checksum) when the client says
// DONT MCCP2, before the WONT that answers it, and when the connection
// closes. The encoder is deflate.go's, which keeps about 48 KB a session
// where compress/zlib would keep 740 KB or more.

// obufKeep is the largest output buffer a connection keeps between batches;
// a bigger one (a long help page) is given back to the garbage collector.
const obufKeep = 4 << 10

// send implements sink: it queues b after the output already queued.
// Call with c.mu held.
func (c *conn) send(b []byte) { c.obuf = append(c.obuf, b...) }

// compress implements sink: it starts or ends MCCP2 after what is queued.
// Call with c.mu held.
func (c *conn) compress(on bool) {
	if on {
		if c.z == nil {
			c.flushLocked()
			c.z = newDeflater()
		}
		return
	}
	if c.z == nil {
		return
	}
	out := c.takeOutputLocked()
	out = append(out, c.z.finish()...)
	c.z = nil
	if !c.closed {
		_ = c.w.Write(out)
	}
}

// takeOutputLocked returns the queued output ready for the socket
// (compressed when MCCP2 is on) and empties the queue. The slice returned
// belongs to the caller.
func (c *conn) takeOutputLocked() []byte {
	if len(c.obuf) == 0 {
		return nil
	}
	var out []byte
	if c.z != nil {
		out = c.z.compress(c.obuf)
		c.obuf = c.obuf[:0]
		if cap(c.obuf) > obufKeep {
			c.obuf = nil
		}
	} else {
		// The writer takes ownership: hand over the buffer itself.
		out = c.obuf
		c.obuf = nil
	}
	return out
}

// flushLocked writes the queued output as one piece.
func (c *conn) flushLocked() {
	if c.closed {
		c.obuf = c.obuf[:0]
		return
	}
	if out := c.takeOutputLocked(); len(out) > 0 {
		_ = c.w.Write(out)
	}
}

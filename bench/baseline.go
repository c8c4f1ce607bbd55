package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
)

// The baseline is a bare Go TCP line server, the yardstick every Portico
// figure is divided by: it echoes each line and, on "BROADCAST <text>",
// writes text to every connection. It runs as a child process (the bench
// binary re-executed with -baseline-server) so that its memory can be
// measured apart from the clients'.
func runBaselineServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	for {
		conn, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		mu.Lock()
		conns[conn] = struct{}{}
		mu.Unlock()
		go func() {
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
				conn.Close()
			}()
			r := bufio.NewReaderSize(conn, 4096)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if text, ok := strings.CutPrefix(string(line), "BROADCAST "); ok {
					msg := []byte(text)
					mu.Lock()
					targets := make([]net.Conn, 0, len(conns))
					for c := range conns {
						targets = append(targets, c)
					}
					mu.Unlock()
					for _, c := range targets {
						c.Write(msg)
					}
					continue
				}
				if _, err := conn.Write(line); err != nil {
					return
				}
			}
		}()
	}
}

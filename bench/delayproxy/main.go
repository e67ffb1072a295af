// Command delayproxy puts a network delay in front of the lab's sshd, so
// that a benchmark sees round trips instead of loopback's microseconds:
//
//	delayproxy -h hosts -port 2222 -to 22 -delay 25ms
//
// For every address in the hosts file it listens on ADDR:port and forwards
// each connection to ADDR:to, holding every chunk of bytes for -delay in each
// direction (a round trip costs twice -delay). It is a delay line, not a
// stop-and-wait: bytes keep flowing while earlier ones wait, so bandwidth is
// unchanged. TCP's own handshake is emulated by waiting one round trip before
// connecting upstream. Without -h it listens once on 0.0.0.0:port and
// forwards to the address each connection was made to.
//
// It prints "listening on N addresses" once ready, and runs until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

var (
	delay   = flag.Duration("delay", 25*time.Millisecond, "delay in each direction")
	toPort  = flag.String("to", "22", "port to forward to, on the same address")
	connRTT = flag.Bool("connect-rtt", true, "wait one round trip (2×delay) before connecting upstream, as TCP's handshake would cost")
)

func main() {
	hostsFile := flag.String("h", "", "hosts file (one address a line); empty: one wildcard listener")
	port := flag.String("port", "2222", "port to listen on")
	flag.Parse()
	var addrs []string
	if *hostsFile == "" {
		addrs = []string{"0.0.0.0"}
	} else {
		b, err := os.ReadFile(*hostsFile)
		if err != nil {
			log.Fatal(err)
		}
		addrs = strings.Fields(string(b))
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", net.JoinHostPort(a, *port))
		if err != nil {
			log.Fatal(err)
		}
		lns = append(lns, ln)
	}
	fmt.Printf("listening on %d addresses, port %s -> %s, %v each way\n", len(lns), *port, *toPort, *delay)
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					log.Print(err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				go serve(c)
			}
		}()
	}
	wg.Wait()
}

func serve(c net.Conn) {
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).IP.String()
	if *connRTT {
		time.Sleep(2 * *delay)
	}
	up, err := net.Dial("tcp", net.JoinHostPort(local, *toPort))
	if err != nil {
		log.Print(err)
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { pipe(up, c); done <- struct{}{} }()
	go func() { pipe(c, up); done <- struct{}{} }()
	<-done
	<-done
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each chunk written delay after it was read.
func pipe(dst, src net.Conn) {
	ch := make(chan chunk, 4096)
	go func() {
		defer close(ch)
		buf := make([]byte, 64*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(*delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			for range ch { // drain so the reader can finish
			}
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// Package redistest starts real redis-server processes for tests: one
// server, or a Cluster of three primaries with a replica each, on free
// loopback ports, in the test's temporary directory, never touching a Redis
// that is already running. Servers are killed when the test ends.
//
// When redis-server is not installed, the test is skipped, unless the
// environment variable CI is "true": then it fails, so that CI cannot pass
// by skipping every Redis test.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// Dir is the server's working directory, holding its log.
	Dir string

	tb   testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Binary returns the path of redis-server, skipping the test (failing it
// under CI=true) when it is not installed.
func Binary(tb testing.TB) string {
	tb.Helper()
	return Need(tb, "redis-server")
}

// Need returns the path of a program a test needs (redis-server, curl, go),
// skipping the test when it is not installed, or failing it when the
// environment variable CI is "true", where a skip would hide a gap.
func Need(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not installed, and CI=true forbids skipping: %v", name, err)
		}
		tb.Skipf("%s is not installed: %v", name, err)
	}
	return path
}

// Start starts a standalone redis-server with persistence off and waits
// until it answers PING. Extra arguments are passed to redis-server as
// configuration ("--maxmemory", "10mb").
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	s, err := startRetry(tb, Binary(tb), func() ([]string, error) { return args, nil })
	if err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	return s
}

// startRetry starts a server with the arguments extra returns, trying again
// with new ports when one was taken before the server could bind it.
func startRetry(tb testing.TB, bin string, extra func() ([]string, error)) (*Server, error) {
	var err error
	for range 5 {
		var args []string
		if args, err = extra(); err != nil {
			continue
		}
		var s *Server
		if s, err = start(tb, bin, args); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func start(tb testing.TB, bin string, extra []string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return startOn(tb, bin, port, extra)
}

// startOn starts a server on the given port; see start.
func startOn(tb testing.TB, bin string, port int, extra []string) (*Server, error) {
	dir, err := os.MkdirTemp(tb.TempDir(), "redis-"+strconv.Itoa(port)+"-")
	if err != nil {
		return nil, err
	}
	var conf []string
	if len(extra) > 0 && !strings.HasPrefix(extra[0], "--") {
		conf, extra = extra[:1], extra[1:] // a configuration file
	}
	args := append(conf, []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "redis.log",
	}...)
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, tb: tb, cmd: cmd, done: make(chan struct{})}
	if err := s.watch(); err != nil {
		return nil, err
	}
	return s, nil
}

// watch reaps s's process, arranges for it to be killed when the test ends
// and waits until it answers PING.
func (s *Server) watch() error {
	port, cmd, done := s.Addr[strings.LastIndexByte(s.Addr, ':')+1:], s.cmd, s.done
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.tb.Cleanup(s.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("redis-server on port %s exited: %s", port, s.logTail())
		default:
		}
		if reply, err := s.Do("PING"); err == nil && reply == "PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server on port %s did not answer PING within 10s: %s", port, s.logTail())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Restart starts a killed server again: the same port, directory and
// arguments, so a Cluster node finds its nodes.conf and rejoins its
// cluster, and clients configured with its address reconnect. Persistence
// is off, so the data is gone. It kills the server first if it is still
// running, and waits until the new process answers PING.
func (s *Server) Restart() error {
	s.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command(s.cmd.Path, s.cmd.Args[1:]...)
		cmd.Dir = s.Dir
		err := cmd.Start()
		if err == nil {
			s.cmd, s.done, s.once = cmd, make(chan struct{}), sync.Once{}
			if err = s.watch(); err == nil {
				return nil
			}
		}
		// The port may linger briefly after the old process died.
		if time.Now().After(deadline) {
			return fmt.Errorf("restart redis-server on %s: %w", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops the server and waits for it to exit. It is safe to call more
// than once.
func (s *Server) Kill() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Do sends one command on a new connection and returns the reply: a simple
// or bulk string, an integer in decimal, or, for an array, its elements
// joined by newlines. It keeps the package free of any client library.
func (s *Server) Do(args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// Cluster is a Redis Cluster of three primaries, each with one replica.
type Cluster struct {
	// Nodes are the six servers, in the order given to redis-cli.
	Nodes []*Server
	// StartTime is how long the cluster took to start and become ready.
	StartTime time.Duration
}

// Addrs returns every node's address.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// StartCluster starts six cluster-enabled servers, joins them with
// redis-cli --cluster create (three primaries, one replica each) and waits
// until every node reports cluster_state:ok, knows all six nodes, and every
// replica has synchronised. A one-node cluster would hide cross-slot
// mistakes; this one spreads slots over three primaries.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	cli := Need(tb, "redis-cli")
	begin := time.Now()
	bin := Binary(tb)
	c := &Cluster{Nodes: make([]*Server, 6)}
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i := range c.Nodes {
		wg.Go(func() {
			c.Nodes[i], errs[i] = startRetry(tb, bin, func() ([]string, error) {
				busPort, err := freePort()
				return []string{
					"--cluster-enabled", "yes",
					"--cluster-config-file", "nodes.conf",
					"--cluster-port", strconv.Itoa(busPort),
					"--cluster-node-timeout", "5000",
					// Replicas synchronise at once rather than after 5s.
					"--repl-diskless-sync-delay", "0",
				}, err
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("start cluster node: %v", err)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		for {
			err := n.clusterReady(len(c.Nodes))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("cluster node %s not ready within 30s: %v", n.Addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	c.StartTime = time.Since(begin)
	return c
}

func (s *Server) clusterReady(nodes int) error {
	info, err := s.Do("CLUSTER", "INFO")
	if err != nil {
		return err
	}
	for _, want := range []string{"cluster_state:ok", "cluster_known_nodes:" + strconv.Itoa(nodes), "cluster_slots_ok:16384"} {
		if !strings.Contains(info, want) {
			return fmt.Errorf("CLUSTER INFO lacks %s:\n%s", want, info)
		}
	}
	repl, err := s.Do("INFO", "replication")
	if err != nil {
		return err
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return fmt.Errorf("replica not synchronised:\n%s", repl)
	}
	return nil
}

// StartSentinel starts a Sentinel monitoring primary under the name
// master (quorum 1) and waits until it reports the primary's address.
func StartSentinel(tb testing.TB, master string, primary *Server) *Server {
	tb.Helper()
	bin := Binary(tb)
	host, port, _ := net.SplitHostPort(primary.Addr)
	s, err := startRetry(tb, bin, func() ([]string, error) {
		// Sentinel rewrites its configuration file, so it needs one of
		// its own; it goes first on the command line.
		dir, err := os.MkdirTemp(tb.TempDir(), "sentinel-")
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\n", master, host, port, master)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, err
		}
		return []string{conf, "--sentinel"}, nil
	})
	if err != nil {
		tb.Fatalf("start sentinel: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		addr, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master)
		if err == nil && addr == host+"\n"+port {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("sentinel does not report %s at %s: %q, %v", master, primary.Addr, addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartSentinels starts n Sentinels monitoring primary under the name
// master with the given quorum, down-after-milliseconds and
// failover-timeout, and waits until every one reports the primary, knows
// the other n-1 Sentinels and knows at least one replica when the primary
// has any, so that a failover can be agreed on at once.
func StartSentinels(tb testing.TB, n int, master string, primary *Server, quorum int, downAfter, failoverTimeout time.Duration) []*Server {
	tb.Helper()
	bin := Binary(tb)
	host, port, _ := net.SplitHostPort(primary.Addr)
	body := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s %[4]d\n"+
		"sentinel down-after-milliseconds %[1]s %[5]d\n"+
		"sentinel failover-timeout %[1]s %[6]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		master, host, port, quorum, downAfter.Milliseconds(), failoverTimeout.Milliseconds())
	sentinels := make([]*Server, n)
	for i := range sentinels {
		s, err := startRetry(tb, bin, func() ([]string, error) {
			dir, err := os.MkdirTemp(tb.TempDir(), "sentinel-")
			if err != nil {
				return nil, err
			}
			conf := filepath.Join(dir, "sentinel.conf")
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				return nil, err
			}
			return []string{conf, "--sentinel"}, nil
		})
		if err != nil {
			tb.Fatalf("start sentinel: %v", err)
		}
		sentinels[i] = s
	}
	replicas := 0
	if repl, err := primary.Do("INFO", "replication"); err == nil {
		for line := range strings.SplitSeq(repl, "\r\n") {
			if v, ok := strings.CutPrefix(line, "connected_slaves:"); ok {
				replicas, _ = strconv.Atoi(v)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range sentinels {
		for {
			err := s.sentinelReady(master, host+"\n"+port, n-1, replicas)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("sentinel %s not ready within 20s: %v", s.Addr, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return sentinels
}

func (s *Server) sentinelReady(master, addr string, others, replicas int) error {
	got, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", master)
	if err != nil {
		return err
	}
	if got != addr {
		return fmt.Errorf("reports primary %q, want %q", got, addr)
	}
	info, err := s.Do("SENTINEL", "MASTER", master)
	if err != nil {
		return err
	}
	fields := strings.Split(info, "\n")
	for i := 0; i+1 < len(fields); i += 2 {
		switch fields[i] {
		case "num-other-sentinels":
			if fields[i+1] != strconv.Itoa(others) {
				return fmt.Errorf("knows %s other sentinels, want %d", fields[i+1], others)
			}
		case "num-slaves":
			if n, _ := strconv.Atoi(fields[i+1]); n < replicas {
				return fmt.Errorf("knows %d replicas, want %d", n, replicas)
			}
		}
	}
	return nil
}

// ID returns the server's Cluster node ID (CLUSTER MYID).
func (s *Server) ID() (string, error) {
	return s.Do("CLUSTER", "MYID")
}

// Owner returns the primary that serves slot, as the first node that
// answers CLUSTER NODES sees it.
func (c *Cluster) Owner(slot int) (*Server, error) {
	var err error
	for _, n := range c.Nodes {
		var nodes string
		if nodes, err = n.Do("CLUSTER", "NODES"); err != nil {
			continue
		}
		addr, ok := slotOwner(nodes, slot)
		if !ok {
			return nil, fmt.Errorf("node %s sees no owner of slot %d", n.Addr, slot)
		}
		for _, s := range c.Nodes {
			if s.Addr == addr {
				return s, nil
			}
		}
		return nil, fmt.Errorf("slot %d is served by %s, not a node of this cluster", slot, addr)
	}
	return nil, fmt.Errorf("no node answers CLUSTER NODES: %w", err)
}

// slotOwner returns the address of the node that serves slot according to
// a CLUSTER NODES reply.
func slotOwner(nodes string, slot int) (string, bool) {
	for line := range strings.SplitSeq(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being imported or migrated
			}
			lo, hi, _ := strings.Cut(r, "-")
			if hi == "" {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && l <= slot && slot <= h {
				addr, _, _ := strings.Cut(f[1], "@")
				return addr, true
			}
		}
	}
	return "", false
}

// MigrateSlot moves slot and every key in it from the primary that serves
// it to the primary to, with the protocol of redis-cli --cluster reshard:
// CLUSTER SETSLOT IMPORTING on to, CLUSTER SETSLOT MIGRATING on the owner,
// MIGRATE of the slot's keys batch keys at a time (CLUSTER GETKEYSINSLOT,
// then MIGRATE ... KEYS), and CLUSTER SETSLOT NODE on to, then on the old
// owner, then on every other primary. It then waits up to 10s until every
// node that answers, replicas included, sees to as the slot's owner.
//
// step, when not nil, is called after each step with its name, so that a
// test can hold the cluster in that state while traffic runs: "importing",
// "migrating", "batch" after each MIGRATE, "node to", "node owner" and
// "node others". Keys must not contain newlines (see [Server.Do]).
func (c *Cluster) MigrateSlot(slot int, to *Server, batch int, step func(name string)) error {
	if step == nil {
		step = func(string) {}
	}
	from, err := c.Owner(slot)
	if err != nil {
		return err
	}
	if from == to {
		return fmt.Errorf("slot %d is already served by %s", slot, to.Addr)
	}
	fromID, err := from.ID()
	if err != nil {
		return err
	}
	toID, err := to.ID()
	if err != nil {
		return err
	}
	s := strconv.Itoa(slot)
	if _, err := to.Do("CLUSTER", "SETSLOT", s, "IMPORTING", fromID); err != nil {
		return fmt.Errorf("SETSLOT IMPORTING on %s: %w", to.Addr, err)
	}
	step("importing")
	if _, err := from.Do("CLUSTER", "SETSLOT", s, "MIGRATING", toID); err != nil {
		return fmt.Errorf("SETSLOT MIGRATING on %s: %w", from.Addr, err)
	}
	step("migrating")
	host, port, _ := net.SplitHostPort(to.Addr)
	for {
		keys, err := from.Do("CLUSTER", "GETKEYSINSLOT", s, strconv.Itoa(batch))
		if err != nil {
			return fmt.Errorf("GETKEYSINSLOT on %s: %w", from.Addr, err)
		}
		if keys == "" {
			break
		}
		args := append([]string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}, strings.Split(keys, "\n")...)
		if _, err := from.Do(args...); err != nil {
			return fmt.Errorf("MIGRATE from %s: %w", from.Addr, err)
		}
		step("batch")
	}
	if _, err := to.Do("CLUSTER", "SETSLOT", s, "NODE", toID); err != nil {
		return fmt.Errorf("SETSLOT NODE on %s: %w", to.Addr, err)
	}
	step("node to")
	if _, err := from.Do("CLUSTER", "SETSLOT", s, "NODE", toID); err != nil {
		return fmt.Errorf("SETSLOT NODE on %s: %w", from.Addr, err)
	}
	step("node owner")
	for _, n := range c.Nodes {
		if n == from || n == to {
			continue
		}
		if info, err := n.Do("INFO", "replication"); err != nil || !strings.Contains(info, "role:master") {
			continue
		}
		if _, err := n.Do("CLUSTER", "SETSLOT", s, "NODE", toID); err != nil {
			return fmt.Errorf("SETSLOT NODE on %s: %w", n.Addr, err)
		}
	}
	step("node others")
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range c.Nodes {
		for {
			nodes, err := n.Do("CLUSTER", "NODES")
			if err != nil {
				break // a node that was killed
			}
			if addr, ok := slotOwner(nodes, slot); ok && addr == to.Addr {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s does not see %s as the owner of slot %d within 10s", n.Addr, to.Addr, slot)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

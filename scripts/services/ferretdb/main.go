// Command ferretdb runs FerretDB v1 (MongoDB wire protocol on PostgreSQL) through its embeddable
// package, so that it can be built with `go build` from the module proxy alone: the upstream
// cmd/ferretdb refuses to start without build/version/version.txt, which the module zip lacks.
//
// Usage:
//
//	ferretdb [-listen-addr 127.0.0.1:27017] [-postgresql-url postgres://...] [-log-level info]
//	ferretdb ping [-timeout 2s] [-username u -password-file f] [addr]   # exit 0 on `ping` ok: 1
//	ferretdb version
//
// Every flag can also be given through the environment variable named beside it.
// The server stops cleanly on SIGTERM or SIGINT. Telemetry is always off in the embedded package.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/FerretDB/wire"
	"github.com/FerretDB/wire/wirebson"
)

const upstream = "github.com/FerretDB/FerretDB"

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "ping":
			os.Exit(runPing(os.Args[2:]))
		case "version", "-version", "--version":
			fmt.Println(upstreamVersion())
			return
		}
	}
	os.Exit(runServer(os.Args[1:]))
}

// upstreamVersion is the FerretDB module version this binary was built from.
func upstreamVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == upstream {
				return "FerretDB " + d.Version + " (embedded, " + bi.GoVersion + ")"
			}
		}
	}
	return "FerretDB (unknown version)"
}

func runServer(args []string) int {
	fs := flag.NewFlagSet("ferretdb", flag.ExitOnError)
	listen := fs.String("listen-addr", env("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017"),
		"TCP address for MongoDB clients (env FERRETDB_LISTEN_ADDR)")
	unix := fs.String("listen-unix", env("FERRETDB_LISTEN_UNIX", ""),
		"optional Unix socket path for MongoDB clients (env FERRETDB_LISTEN_UNIX)")
	pgURL := fs.String("postgresql-url", env("FERRETDB_POSTGRESQL_URL", "postgres://postgres@127.0.0.1:5432/ferretdb"),
		"PostgreSQL connection string (env FERRETDB_POSTGRESQL_URL)")
	level := fs.String("log-level", env("FERRETDB_LOG_LEVEL", "info"),
		"debug, info, warn or error (env FERRETDB_LOG_LEVEL)")
	_ = fs.Parse(args)

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad -log-level %q: %s\n", *level, err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen, Unix: *unix},
		Logger:        logger,
		Handler:       "postgresql",
		PostgreSQLURL: *pgURL,
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "error", err)
		return 1
	}

	logger.Info("starting", "version", upstreamVersion(), "listen", *listen, "postgresql", redact(*pgURL))
	if err = f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with an error", "error", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

// redact hides a password in a connection string before it is logged.
func redact(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	creds := u[scheme+3 : at]
	if i := strings.Index(creds, ":"); i >= 0 {
		return u[:scheme+3] + creds[:i] + ":xxx" + u[at:]
	}
	return u
}

// runPing sends the MongoDB `ping` command over OP_MSG; FerretDB answers it only when its
// PostgreSQL backend is reachable, so success means the whole stack is serving.
func runPing(args []string) int {
	fs := flag.NewFlagSet("ferretdb ping", flag.ExitOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "dial and round-trip timeout")
	username := fs.String("username", "", "authenticate as this user first (PLAIN, passed to PostgreSQL)")
	passwordFile := fs.String("password-file", "", "file holding the password of -username")
	_ = fs.Parse(args)
	addr := env("FERRETDB_LISTEN_ADDR", "127.0.0.1:27017")
	if fs.NArg() > 0 {
		addr = fs.Arg(0)
	}
	var password string
	if *passwordFile != "" {
		b, err := os.ReadFile(*passwordFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ping %s: %s\n", addr, err)
			return 1
		}
		password = strings.TrimSpace(string(b))
	}
	if err := ping(addr, *timeout, *username, password); err != nil {
		fmt.Fprintf(os.Stderr, "ping %s: %s\n", addr, err)
		return 1
	}
	fmt.Printf("ping %s: ok\n", addr)
	return 0
}

// ping authenticates when a username is given (the password is read from a file, never from the
// command line, where other users could see it), then sends `ping`. FerretDB answers `saslStart`
// PLAIN without checking; the password is checked by PostgreSQL when `ping` reaches it.
func ping(addr string, timeout time.Duration, username, password string) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)

	if username != "" {
		payload := wirebson.Binary{B: []byte("\x00" + username + "\x00" + password)}
		auth := wire.MustOpMsg("saslStart", int32(1), "mechanism", "PLAIN", "payload", payload, "$db", "$external")
		if err = roundTrip(r, w, 1, auth); err != nil {
			return fmt.Errorf("saslStart: %w", err)
		}
	}
	if err = roundTrip(r, w, 2, wire.MustOpMsg("ping", int32(1), "$db", "admin")); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// roundTrip sends one command and fails unless the reply says ok: 1.
func roundTrip(r *bufio.Reader, w *bufio.Writer, id int32, msg *wire.OpMsg) error {
	body, err := msg.MarshalBinary()
	if err != nil {
		return err
	}
	hdr := &wire.MsgHeader{
		MessageLength: int32(len(body) + wire.MsgHeaderLen),
		RequestID:     id,
		OpCode:        wire.OpCodeMsg,
	}
	if err = wire.WriteMessage(w, hdr, msg); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}

	_, resBody, err := wire.ReadMessage(r)
	if err != nil {
		return err
	}
	res, ok := resBody.(*wire.OpMsg)
	if !ok {
		return fmt.Errorf("unexpected reply %T", resBody)
	}
	raw, err := res.RawDocument()
	if err != nil {
		return err
	}
	doc, err := raw.Decode()
	if err != nil {
		return err
	}
	if v, _ := doc.Get("ok").(float64); v != 1 {
		return errors.New("reply is not ok: " + wirebson.LogMessage(doc))
	}
	return nil
}

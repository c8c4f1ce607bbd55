package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/plugins"
	"github.com/portico-mud/portico/core/store"
	"github.com/portico-mud/portico/sdk/cpuprofile"
	"github.com/spf13/cobra"
)

// Main runs the portico command line — start, stop, reload, reset,
// status, sessions, announce, account, bot, config check — for the game
// that opts make, and exits: a game's main is one call to it. It gives the
// game's binary the whole command line because `reload` re-executes the
// running binary: the game's own. Errors are printed one line each,
// prefixed "portico:", and exit with status 1.
func Main(opts ...Option) {
	if err := NewCommand(opts...).Execute(); err != nil {
		// One line per problem (a config's errors are several), each
		// saying where it comes from.
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "portico:", line)
		}
		os.Exit(1)
	}
}

// NewCommand returns the portico command line for the game that opts
// make, for a game that adds commands of its own to it before it runs it
// (Main runs it as it is).
func NewCommand(opts ...Option) *cobra.Command {
	var cfgPath string
	root := &cobra.Command{
		Use:           "portico",
		Short:         "Portico: a text-game and chat server whose protocols run as plugins",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&cfgPath, "config", "config.yaml", "configuration file")
	load := func() (*config.Config, error) { return config.Load(cfgPath) }
	root.AddCommand(startCmd(load, opts), configCmd(load, opts), stopCmd(load, "stop"), stopCmd(load, "shutdown"), statusCmd(load), accountCmd(load),
		restartCmd(load, "reload"), restartCmd(load, "reset"), sessionsCmd(load), announceCmd(load), botCmd(load))
	root.AddCommand(migrateCmd(load), limitsCmd(load), pluginCmd(load), backupCmd(load))
	root.AddCommand(portalCmd(load))
	return root
}

type loader func() (*config.Config, error)

func startCmd(load loader, opts []Option) *cobra.Command {
	return &cobra.Command{
		Use:   "start",
		Short: "Run the host in the foreground with its plugins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stopProfile, err := cpuprofile.Start(profileName())
			if err != nil {
				fmt.Fprintln(os.Stderr, "portico:", err)
			}
			defer stopProfile()
			return Run(ctx, cfg, os.Stderr, opts...)
		},
	}
}

// profileName names the host's CPU profile: "portico" for the image
// `portico start` ran, "portico.reload<N>" for the one the Nth reload
// re-executed, so that a reload keeps the profile of the image before it.
func profileName() string {
	if n, err := strconv.Atoi(os.Getenv(envReloads)); err == nil && n > 0 {
		return "portico.reload" + strconv.Itoa(n)
	}
	return "portico"
}

func configCmd(load loader, opts []Option) *cobra.Command {
	cfg := &cobra.Command{Use: "config", Short: "Check the configuration"}
	cfg.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and check the configuration (the file and PORTICO_* variables) and print it as the host would run with it, secrets masked; on problems, print one line for each and exit 1",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := load()
			if err != nil {
				return err
			}
			// What Load cannot know without looking outside the file: the
			// game's settings, the plugins' binaries, and the plugins' own
			// checks of their blocks.
			if err := checkGame(c, opts); err != nil {
				return err
			}
			if err := plugins.Check(c); err != nil {
				return err
			}
			return c.WriteEffective(cmd.OutOrStdout())
		},
	})
	return cfg
}

func stopCmd(load loader, name string) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   name,
		Short: "Stop a running host and its plugins, telling players why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := callHostContext(ctx, cfg, control.Request{Cmd: "stop",
				Args: map[string]string{"reason": reason}}, true); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "stopped")
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "what players are told")
	return c
}

func statusCmd(load loader) *cobra.Command {
	return answerCmd(cobra.Command{
		Use:   "status",
		Short: "Show the running host's plugins, sessions and accounts",
		Args:  cobra.NoArgs,
	}, "status", "the status", func([]string) (json.RawMessage, error) {
		return loadAndCallHost(load, control.Request{Cmd: "status"})
	}, printStatus)
}

// answerCmd is the command c that asks call (given c's arguments) for an
// answer and prints it: as it came with --json, else with print (what
// names the command in errors, jsonWhat the answer in --json's help).
func answerCmd[T any](c cobra.Command, what, jsonWhat string, call func(args []string) (json.RawMessage, error), print func(io.Writer, T)) *cobra.Command {
	var asJSON bool
	c.RunE = func(cmd *cobra.Command, args []string) error {
		data, err := call(args)
		return printAnswer(cmd, data, err, asJSON, what, print)
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print "+jsonWhat+" as JSON")
	return &c
}

func printStatus(w io.Writer, st Status) {
	fmt.Fprintf(w, "%s: host pid %d, up %s\n", st.ServerName, st.PID, time.Since(st.Started).Round(time.Second))
	fmt.Fprintf(w, "sessions: %d, accounts online: %d, accounts: %d\n", st.Sessions, st.AccountsOnline, st.Accounts)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLUGIN\tPROTOCOL\tSTATE\tPID\tUPTIME\tRESTARTS\tLISTENING\tLAST ERROR")
	for _, p := range st.Plugins {
		up := "-"
		if p.State == "running" && !p.Started.IsZero() {
			up = time.Since(p.Started).Round(time.Second).String()
		}
		on := strings.Join(p.Listeners, ", ")
		if on == "" {
			on = "-"
		}
		state := p.State
		if p.Remote && p.Address != "" {
			// A remote plugin has no pid here: where it connects from.
			state += " (remote, " + p.Address + ")"
		} else if p.Remote {
			state += " (remote)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", p.Name, p.ProtocolKey, state, p.PID, up, p.Restarts, on, lastError(p))
	}
	tw.Flush()
	if len(st.Bots) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "BOT\tPROTOCOL\tCHANNEL\tSTATE\tLAST ERROR")
		for _, b := range st.Bots {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.Name, b.Protocol, b.Channel, b.State, orDash(b.LastError))
		}
		tw.Flush()
	}
	// A live edit a plugin refused: it runs on with its previous block.
	for _, p := range st.Plugins {
		if p.ConfigError != "" {
			fmt.Fprintf(w, "%s: config not applied: %s\n", p.Name, p.ConfigError)
		}
	}
}

// lastError is a plugin's last error with when it happened, for status:
// "exit status 2 (at 14:03:12, 5m ago)".
func lastError(p plugins.Status) string {
	if p.LastError == "" {
		return ""
	}
	if p.LastErrorAt.IsZero() {
		return p.LastError
	}
	return fmt.Sprintf("%s (at %s, %s ago)", p.LastError, p.LastErrorAt.Local().Format("15:04:05"),
		time.Since(p.LastErrorAt).Round(time.Second))
}

func accountCmd(load loader) *cobra.Command {
	acc := &cobra.Command{Use: "account", Short: "Manage accounts"}
	var admin bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an account; the password is asked for (not echoed) at a terminal, else read from the first line of stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			password, err := readNewPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			st, err := openStore(cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := st.CreateAccount(cmd.Context(), args[0], password, admin)
			if err != nil {
				return err
			}
			kind := "account"
			if a.IsAdmin {
				kind = "admin account"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s %s (#%d)\n", kind, a.Name, a.ID)
			return nil
		},
	}
	create.Flags().BoolVar(&admin, "admin", false, "make the account an admin")
	addKey := &cobra.Command{
		Use:   "add-key NAME FILE",
		Short: "Register an SSH public key (a .pub file, or - for stdin) that logs NAME in over SSH",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			var data []byte
			if args[1] == "-" {
				data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
			} else {
				data, err = os.ReadFile(args[1])
			}
			if err != nil {
				return fmt.Errorf("read key: %w", err)
			}
			st, err := openStore(cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := st.AccountByName(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			k, err := st.AddSSHKey(cmd.Context(), a.ID, strings.TrimSpace(string(data)))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added key %s for %s\n", k.Fingerprint, a.Name)
			return nil
		},
	}
	acc.AddCommand(create, addKey)
	acc.AddCommand(accountOpsCmds(load)...)
	return acc
}

// openStore opens the host's database for a command-line change, which is
// safe while the host runs (writers take turns, on SQLite and PostgreSQL).
func openStore(cfg *config.Config) (*store.Store, error) {
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, err
	}
	return store.Open(cfg.StoreLocation(), store.Options{Argon2: store.Argon2Params{
		MemoryKiB: cfg.Server.Argon2MemoryKiB, Time: cfg.Server.Argon2Time}})
}

func restartCmd(load loader, mode string) *cobra.Command {
	var reason string
	short := "Reload the host (new binary, same pid) without dropping any player"
	if mode == "reset" {
		short = "Reset the host: a reload that also drops non-persistent state"
	}
	c := &cobra.Command{
		Use:   mode,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			data, err := callHostContext(ctx, cfg, control.Request{Cmd: mode,
				Args: map[string]string{"reason": reason}}, false)
			if err != nil {
				return err
			}
			var before struct {
				Started time.Time `json:"started"`
			}
			if err := json.Unmarshal(data, &before); err != nil {
				return fmt.Errorf("%s: %w", mode, err)
			}
			// The host answers, then re-executes: wait until the new image
			// answers with a new start time.
			for {
				st, err := control.Call(ctx, cfg.ControlSocket(), control.Request{Cmd: "status"}, false)
				if err == nil && st.OK {
					var now Status
					if json.Unmarshal(st.Data, &now) == nil && now.Started.After(before.Started) && settled(now) {
						fmt.Fprintf(cmd.OutOrStdout(), "%s done in %s (pid %d, %d sessions)\n", mode,
							time.Since(start).Round(time.Millisecond), now.PID, now.Sessions)
						return nil
					}
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("%s: the host did not come back: %w", mode, ctx.Err())
				case <-time.After(20 * time.Millisecond):
				}
			}
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "what players are told")
	return c
}

// settled reports whether every plugin of a (re)started host has finished
// starting or reattaching, so that its session count is the real one.
func settled(st Status) bool {
	for _, p := range st.Plugins {
		if p.State == "starting" {
			return false
		}
	}
	return true
}

func sessionsCmd(load loader) *cobra.Command {
	return answerCmd(cobra.Command{
		Use:   "sessions",
		Short: "List the running host's sessions with their protocol flags",
		Args:  cobra.NoArgs,
	}, "sessions", "the sessions", func([]string) (json.RawMessage, error) {
		return loadAndCallHost(load, control.Request{Cmd: "sessions"})
	}, printSessions)
}

func printSessions(w io.Writer, list []SessionInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSID\tPLUGIN\tPROTOCOL\tADDRESS\tACCOUNT\tCLIENT\tIDLE")
	for _, s := range list {
		client, _ := s.ProtocolFlags["CLIENTNAME"].(string)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Sessid, s.Plugin, s.ProtocolKey, s.Address,
			s.Account, client, time.Since(s.CmdLast).Round(time.Second))
	}
	tw.Flush()
}

func announceCmd(load loader) *cobra.Command {
	return answerCmd(cobra.Command{
		Use:   "announce TEXT",
		Short: "Send a message to every connected session",
		Args:  cobra.MinimumNArgs(1),
	}, "announce", "the answer", func(args []string) (json.RawMessage, error) {
		return loadAndCallHost(load, control.Request{Cmd: "announce",
			Args: map[string]string{"text": strings.Join(args, " ")}})
	}, func(w io.Writer, out struct {
		Sessions int `json:"sessions"`
	}) {
		fmt.Fprintf(w, "announced to %d session(s)\n", out.Sessions)
	})
}

func botCmd(load loader) *cobra.Command {
	bot := &cobra.Command{Use: "bot", Short: "Manage bridge bots (IRC, Discord) of the running host"}
	var protocol, channel string
	add := &cobra.Command{
		Use:   "add NAME --protocol PROTO --channel GAMECHANNEL key=value...",
		Short: "Create a bot bridging a game channel; it starts at once and with every host start",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			dict, err := parseKeyValues(args[1:])
			if err != nil {
				return err
			}
			b, _ := json.Marshal(dict)
			data, err := callHost(cfg, control.Request{Cmd: "bot_add", Args: map[string]string{
				"name": args[0], "protocol": protocol, "channel": channel, "config": string(b)}})
			return printAnswer(cmd, data, err, false, "bot add", printMessage)
		},
	}
	add.Flags().StringVar(&protocol, "protocol", "irc", "the protocol plugin that runs the bot (irc, discord), which checks its keys before it is stored")
	add.Flags().StringVar(&channel, "channel", "public", "the game channel the bot bridges")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the bots and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := loadAndCallHost(load, control.Request{Cmd: "bot_list"})
			return printAnswer(cmd, data, err, false, "bot list", printBots)
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop a bot and delete it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := loadAndCallHost(load, control.Request{Cmd: "bot_remove", Args: map[string]string{"name": args[0]}}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed bot %s\n", args[0])
			return nil
		},
	}
	bot.AddCommand(add, list, remove, botRestartCmd(load))
	return bot
}

func printBots(w io.Writer, bots []BotInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BOT\tPROTOCOL\tCHANNEL\tSTATE\tLAST ERROR\tCONFIG")
	for _, b := range bots {
		c, _ := json.Marshal(b.Config)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, b.Protocol, b.Channel, b.State, orDash(b.LastError), c)
	}
	tw.Flush()
}

// hostMessage is the answer of the commands that change something: a
// sentence for the operator and, for the account commands, how many
// sessions the change ended.
type hostMessage struct {
	Message       string `json:"message"`
	SessionsEnded int    `json:"sessions_ended"`
}

// printMessage prints a hostMessage answer.
func printMessage(w io.Writer, m hostMessage) {
	if m.SessionsEnded > 0 {
		m.Message += fmt.Sprintf("; %d session(s) ended", m.SessionsEnded)
	}
	fmt.Fprintln(w, m.Message)
}

// orDash is s, or "-" for nothing, so that a table's columns stay
// aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// callHost sends one request to the running host and returns its data.
func callHost(cfg *config.Config, req control.Request) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return callHostContext(ctx, cfg, req, false)
}

// callHostContext sends one request to the running host within ctx (wait:
// until the host has closed the connection, see control.Call) and returns
// its data, or its refusal as an error.
func callHostContext(ctx context.Context, cfg *config.Config, req control.Request, wait bool) (json.RawMessage, error) {
	resp, err := control.Call(ctx, cfg.ControlSocket(), req, wait)
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return resp.Data, nil
}

// loadAndCallHost loads the config and sends one request to the running
// host, for the commands that need a host.
func loadAndCallHost(load loader, req control.Request) (json.RawMessage, error) {
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	return callHost(cfg, req)
}

// callHostOr sends one request to the running host, so that what it holds
// in memory (sessions, throttles, live connections) follows the change;
// when no host runs, offline does the same work on the store or the files
// directly and answers the data the host would have.
func callHostOr(cfg *config.Config, req control.Request, offline func() (json.RawMessage, error)) (json.RawMessage, error) {
	data, err := callHost(cfg, req)
	if !errors.Is(err, control.ErrNotRunning) {
		return data, err
	}
	return offline()
}

// parseKeyValues turns key=value arguments into a config dict: whole
// numbers become numbers and true/false booleans, as a YAML user expects.
func parseKeyValues(args []string) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("bot: %q is not key=value", a)
		}
		switch {
		case v == "true" || v == "false":
			out[k] = v == "true"
		default:
			if n, err := strconv.Atoi(v); err == nil {
				out[k] = n
			} else {
				out[k] = v
			}
		}
	}
	return out, nil
}

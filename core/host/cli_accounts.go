package host

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portico-mud/portico/core/config"
	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/store"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// accountOpsCmds are `portico account list|show|delete|passwd|admin`.
func accountOpsCmds(load loader) []*cobra.Command {
	var revoke bool
	show := answerCmd(cobra.Command{
		Use:   "show NAME",
		Short: "Show one account: admin, sessions, dates, characters, SSH keys",
		Args:  cobra.ExactArgs(1),
	}, "account show", "the account", func(args []string) (json.RawMessage, error) {
		return accountCall(load, cmdAccountShow, map[string]string{"name": args[0]})
	}, printAccount)
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an account and its character; its sessions in the running host end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printAccountMessage(cmd, load, cmdAccountDelete, map[string]string{"name": args[0]})
		},
	}
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set an account's password: asked for (not echoed) at a terminal, else the first line of stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := readNewPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return printAccountMessage(cmd, load, cmdAccountPasswd, map[string]string{"name": args[0], "password": password})
		},
	}
	admin := &cobra.Command{
		Use:   "admin NAME [--revoke]",
		Short: "Make an account an admin (--revoke: no longer one); its sessions have the admin commands at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := map[string]string{"name": args[0]}
			if revoke {
				a["revoke"] = "true"
			}
			return printAccountMessage(cmd, load, cmdAccountAdmin, a)
		},
	}
	admin.Flags().BoolVar(&revoke, "revoke", false, "take the admin rights away")
	return []*cobra.Command{accountListCmd(load), show, del, passwd, admin}
}

// accountListCmd is `portico account list`.
func accountListCmd(load loader) *cobra.Command {
	return answerCmd(cobra.Command{
		Use:   "list",
		Short: "List the accounts: id, name, admin, sessions in the running host, created, last login",
		Args:  cobra.NoArgs,
	}, "account list", "the accounts", func([]string) (json.RawMessage, error) {
		return accountCall(load, cmdAccountList, nil)
	}, printAccounts)
}

// printAnswer prints a host's answer (data, or err): as it came with
// asJSON, else decoded into a T and printed by print.
func printAnswer[T any](cmd *cobra.Command, data json.RawMessage, err error, asJSON bool, what string, print func(io.Writer, T)) error {
	if err != nil {
		return err
	}
	if asJSON {
		_, err := fmt.Fprintln(cmd.OutOrStdout(), string(data))
		return err
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	print(cmd.OutOrStdout(), v)
	return nil
}

func printAccounts(w io.Writer, all []AccountInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tADMIN\tSESSIONS\tCREATED\tLAST LOGIN")
	for _, a := range all {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", a.ID, a.Name+botNote(a), yesNo(a.Admin), a.Sessions,
			day(a.Created), day(a.LastLogin))
	}
	tw.Flush()
}

// accountCall runs an account command in the running host, over the
// control socket, so that its sessions follow; with no host running, on
// the database directly.
func accountCall(load loader, cmd string, args map[string]string) (json.RawMessage, error) {
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	return callHostOr(cfg, control.Request{Cmd: cmd, Args: args}, func() (data json.RawMessage, err error) {
		err = withStore(cfg, func(st *store.Store) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			data, err = offlineAccount(ctx, st, cmd, args)
			return err
		})
		return data, err
	})
}

// withStore runs f on the database, opened for it alone (safe while a
// host runs: SQLite WAL, one writer at a time).
func withStore(cfg *config.Config, f func(st *store.Store) error) error {
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(st)
}

// printAccountMessage runs an account command and prints the message it
// answers.
func printAccountMessage(cmd *cobra.Command, load loader, name string, args map[string]string) error {
	data, err := accountCall(load, name, args)
	return printAnswer(cmd, data, err, false, strings.ReplaceAll(name, "_", " "), printMessage)
}

func printAccount(w io.Writer, a AccountInfo) {
	fmt.Fprintf(w, "account:    %s (#%d)%s\n", a.Name, a.ID, botNote(a))
	fmt.Fprintf(w, "admin:      %s\n", yesNo(a.Admin))
	fmt.Fprintf(w, "sessions:   %d\n", a.Sessions)
	fmt.Fprintf(w, "created:    %s\n", stamp(a.Created))
	fmt.Fprintf(w, "last login: %s\n", stamp(a.LastLogin))
	fmt.Fprintf(w, "characters: %s\n", orNone(strings.Join(a.Characters, ", ")))
	fmt.Fprintf(w, "ssh keys:   %s\n", orNone(strings.Join(a.SSHKeys, "\n            ")))
}

func botNote(a AccountInfo) string {
	if a.Bot == "" {
		return ""
	}
	return " (bot " + a.Bot + ")"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func day(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// readNewPassword reads a new password: at a terminal it asks for it
// twice on prompt (stderr) without echo; otherwise it takes the first
// line of in, so that scripts can pipe it in.
func readNewPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(what string) (string, error) {
			var b []byte
			// Echo goes off before the prompt shows, so that an answer
			// typed the moment it appears is not echoed either.
			err := withoutEcho(int(f.Fd()), func() error {
				fmt.Fprint(prompt, what)
				var err error
				b, err = term.ReadPassword(int(f.Fd()))
				return err
			})
			fmt.Fprintln(prompt) // the Enter was not echoed either
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			return string(b), nil
		}
		p1, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		if p1 == "" {
			return "", errors.New("read password: no password given")
		}
		p2, err := ask("Retype password: ")
		if err != nil {
			return "", err
		}
		if p1 != p2 {
			return "", errors.New("read password: the passwords do not match")
		}
		return p1, nil
	}
	return readPassword(in)
}

// readPassword reads the password from the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", errors.New("read password: give the password on the first line of stdin")
	}
	return password, nil
}

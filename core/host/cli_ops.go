package host

import (
	"context"
	"fmt"
	"time"

	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/store"
	"github.com/spf13/cobra"
)

// pluginCmd is `portico plugin restart NAME`.
func pluginCmd(load loader) *cobra.Command {
	plugin := &cobra.Command{Use: "plugin", Short: "Manage the running host's protocol plugins"}
	plugin.AddCommand(&cobra.Command{
		Use:   "restart NAME",
		Short: "Restart a plugin (its players are told and disconnected); a failed one starts again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printHostMessage(cmd, load, cmdPluginRestart, args[0])
		},
	})
	return plugin
}

// botRestartCmd is `portico bot restart NAME`.
func botRestartCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart a bridge bot: end its session and start it again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printHostMessage(cmd, load, cmdBotRestart, args[0])
		},
	}
}

// printHostMessage sends the running host a command about name and prints
// the message it answers.
func printHostMessage(cmd *cobra.Command, load loader, name, arg string) error {
	data, err := loadAndCallHost(load, control.Request{Cmd: name, Args: map[string]string{"name": arg}})
	return printAnswer(cmd, data, err, false, name, printMessage)
}

// backupCmd is `portico backup FILE`.
func backupCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the SQLite database to FILE, safe while the host runs and players play",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			return withStore(cfg, func(st *store.Store) error {
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Minute)
				defer cancel()
				start := time.Now()
				n, err := st.Backup(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s in %s: integrity ok, %d accounts\n", cfg.DBPath(), args[0],
					time.Since(start).Round(time.Millisecond), n)
				return nil
			})
		},
	}
}

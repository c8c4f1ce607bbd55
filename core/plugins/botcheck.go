package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-mud/portico/sdk/portalpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ValidateBot checks a bot's config dict through the running plugin that
// serves protocol (a plugin name or a protocol key), before the host
// stores the bot: `portico bot add`, @irc2chan and @discord2chan answer
// with the plugin's own words, each problem naming its key
// (`discord: config key "channel_id": "general" is not a Discord id`),
// and nothing is stored. A plugin that is not running cannot check, so it
// is an error too. A plugin that cannot check bot dicts (an SDK from
// before ValidateRequest.bot) is taken at its word: its StartBot checks.
func (m *Manager) ValidateBot(ctx context.Context, protocol string, cfg map[string]any) error {
	target := m.find(protocol)
	if target == nil {
		return fmt.Errorf("no running plugin serves %q: enable plugins.%s in config.yaml (its plugin checks a bot before it is stored)", protocol, protocol)
	}
	client := target.portalClient()
	if client == nil {
		return fmt.Errorf("the %s plugin is not running (%s): a bot is checked by its plugin before it is stored; try again when `portico status` shows it running", target.name, target.status().State)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("%s: bot config: %w", target.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()
	resp, err := client.Validate(ctx, &portalpb.ValidateRequest{ConfigJson: b, Host: hostFacts(m.config()), Bot: true})
	if status.Code(err) == codes.Unimplemented {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: the plugin could not check the bot: %s", target.name, status.Convert(err).Message())
	}
	var lines []string
	for _, p := range resp.GetProblems() {
		lines = append(lines, botProblem(target.name, p))
	}
	if len(lines) > 0 {
		return errors.New(strings.Join(lines, "\n"))
	}
	return nil
}

// botProblem words one problem with a bot's dict: `<plugin>: config key
// "k": msg`, or the plugin's message as it is when it names no key (the
// IRC plugin's already say everything: `irc: config key "channel": ...`).
func botProblem(plugin string, p *portalpb.ConfigProblem) string {
	msg := p.GetMessage()
	switch {
	case p.GetKey() != "":
		return fmt.Sprintf("%s: config key %q: %s", plugin, p.GetKey(), msg)
	case strings.HasPrefix(msg, plugin+": "):
		return msg
	case strings.HasPrefix(msg, "unknown key"):
		return fmt.Sprintf("%s: config: %s", plugin, msg)
	}
	return plugin + ": " + msg
}

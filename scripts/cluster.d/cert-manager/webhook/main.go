// cert-manager's webhook, run on the host: the server of github.com/cert-manager/cert-manager/internal/webhook
// (admission chain, dynamic serving certificate from the CA Secret) configured by its own flags
// (pkg/webhook/options), as the chart's Deployment passes them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/cert-manager/cert-manager/internal/webhook"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/webhook/options"
)

func main() {
	cfg, err := options.NewWebhookConfiguration()
	if err != nil {
		fail(err)
	}
	flags := pflag.NewFlagSet("cert-manager-webhook", pflag.ExitOnError)
	options.AddConfigFlags(flags, cfg)
	if err := flags.Parse(os.Args[1:]); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	server, err := webhook.NewCertManagerWebhookServer(logf.Log.WithName("webhook"), *cfg)
	if err != nil {
		fail(err)
	}
	if err := server.Run(ctx); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cert-manager-webhook:", err)
	os.Exit(1)
}

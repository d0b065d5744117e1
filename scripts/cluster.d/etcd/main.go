// The etcd server, built from go.etcd.io/etcd/server/v3: the module proxy serves the server module at
// v3.7.x, but the root module that holds etcd's own main package only up to v3.6.x, so scripts/cluster
// builds this two-line main in a wrapper module instead (the root main does nothing more than this).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}

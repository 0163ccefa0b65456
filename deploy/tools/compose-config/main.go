// compose-config loads a Compose file the way `docker compose config` does, without a
// Docker engine: compose-go (the library the Docker Compose CLI is built on) reads the
// file and any .env beside it, interpolates the environment, validates the result
// against the Compose Specification's JSON Schema, normalises it and checks that it is
// consistent (every depends_on, network and volume exists). It prints the resolved
// project as JSON, or the error and exit code 1.
//
// Usage: compose-config [COMPOSE_FILE ...]   (default: the compose file in this directory)
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	options, err := cli.NewProjectOptions(os.Args[1:],
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	resolved, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	fmt.Println(string(resolved))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose-config:", err)
	os.Exit(1)
}

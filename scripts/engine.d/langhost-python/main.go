// Command pulumi-language-python is a small Python language host for the Pulumi engine, written for
// complete-cluster's scripts/engine.
//
// Why it exists: Pulumi's own host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is
// untagged, and the Go module proxy this project can reach does not serve it at the release commit of the pinned
// pulumi version. This host speaks the same LanguageRuntime gRPC protocol, built against the pinned sdk/v3 module,
// and runs programs the same way Pulumi's host does: through the `pulumi-language-python-exec` script that ships in
// the sdk/v3 module, with the interpreter of the project's virtualenv. Policy packs run as `python -m pulumi.policy`.
//
// Scope: what `pulumi preview/up/destroy/refresh/stack/about` and `--policy-pack` need with the pip toolchain
// (an existing virtualenv, or python3 on PATH). Code generation, `pulumi new` templating, uv/poetry toolchains and
// Python resource-provider plugins are not implemented and answer with a clear error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set at build time (-X main.version=...) to the pulumi version this host was built for.
var version = "0.0.0-dev"

const (
	execScriptName = "pulumi-language-python-exec"
	// Exit code the exec script uses after it has already shown the user an actionable message.
	exitShownToUser = 32
)

func main() {
	// The engine passes its address as the last positional argument; older engines put flags such as
	// -root=DIR or -tracing=URL before it. Flags are accepted and only -root is used.
	var engineAddress, root string
	for _, arg := range os.Args[1:] {
		switch {
		case strings.HasPrefix(arg, "-root="), strings.HasPrefix(arg, "--root="):
			root = arg[strings.Index(arg, "=")+1:]
		case strings.HasPrefix(arg, "-"):
			// other flags are not needed here
		default:
			engineAddress = arg
		}
	}

	self, err := os.Executable()
	if err != nil {
		fatalf("cannot determine the language host's own path: %v", err)
	}
	execScript := filepath.Join(filepath.Dir(self), execScriptName)
	if _, err := os.Stat(execScript); err != nil {
		fatalf("missing %s next to %s: rebuild with scripts/engine build", execScriptName, self)
	}

	host := &pythonHost{execScript: execScript, engineAddress: engineAddress, root: root}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fatalf("could not start the language host gRPC server: %v", err)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatalf("language host stopped serving: %v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: "+format+"\n", args...)
	os.Exit(1)
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	execScript string

	mu            sync.Mutex
	engineAddress string
	root          string
}

func (h *pythonHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	if req.RootDirectory != nil {
		h.root = req.GetRootDirectory()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *pythonHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// interpreter describes the Python that runs programs for one project or policy pack.
type interpreter struct {
	python     string // executable
	virtualenv string // absolute path, empty when python3 comes from PATH
}

// env returns the environment for child processes: the caller's, with the virtualenv activated.
func (i interpreter) env(extra ...string) []string {
	env := os.Environ()
	if i.virtualenv != "" {
		env = setEnv(env, "VIRTUAL_ENV", i.virtualenv)
		env = setEnv(env, "PATH", filepath.Join(i.virtualenv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		env = unsetEnv(env, "PYTHONHOME")
	}
	for _, kv := range extra {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env = setEnv(env, k, v)
		}
	}
	return env
}

// resolveInterpreter mirrors the pip toolchain of Pulumi's host: runtime option `virtualenv` (relative to the
// project root) selects <venv>/bin/python; without it PULUMI_PYTHON_CMD or python3 from PATH is used.
func (h *pythonHost) resolveInterpreter(info *pulumirpc.ProgramInfo) (interpreter, error) {
	opts := map[string]any{}
	if info != nil && info.GetOptions() != nil {
		opts = info.GetOptions().AsMap()
	}
	if tc, ok := opts["toolchain"].(string); ok && tc != "" && tc != "pip" {
		return interpreter{}, fmt.Errorf("runtime option toolchain=%q is not supported by this language host "+
			"(complete-cluster scripts/engine); use the pip toolchain with a virtualenv", tc)
	}
	venv, _ := opts["virtualenv"].(string)
	if venv == "" {
		venv = os.Getenv("PULUMI_RUNTIME_VIRTUALENV")
	}
	if venv != "" {
		if !filepath.IsAbs(venv) {
			base := ""
			if info != nil {
				base = info.GetRootDirectory()
			}
			if base == "" {
				h.mu.Lock()
				base = h.root
				h.mu.Unlock()
			}
			venv = filepath.Join(base, venv)
		}
		python := filepath.Join(venv, "bin", "python")
		if _, err := os.Stat(python); err != nil {
			return interpreter{}, fmt.Errorf("the 'virtualenv' option is set to %q, but %s does not exist; "+
				"create it with: python3 -m venv %s && %s -m pip install -r requirements.txt",
				venv, python, venv, python)
		}
		return interpreter{python: python, virtualenv: venv}, nil
	}
	cmd := os.Getenv("PULUMI_PYTHON_CMD")
	if cmd == "" {
		cmd = "python3"
	}
	python, err := exec.LookPath(cmd)
	if err != nil {
		return interpreter{}, fmt.Errorf("no Python interpreter: %q is not on PATH and no 'virtualenv' runtime "+
			"option is set", cmd)
	}
	return interpreter{python: python}, nil
}

// pluginJSONScript prints, as JSON, the plugin declared by every installed distribution that ships a
// <module>/pulumi-plugin.json (the convention Pulumi packages follow).
const pluginJSONScript = `
import importlib.metadata as md, json, sys
out = []
for dist in md.distributions():
    name = (dist.metadata["Name"] or "")
    if not name.lower().startswith("pulumi"):
        continue
    module = name.replace("-", "_").lower()
    try:
        with open(dist.locate_file(module + "/pulumi-plugin.json")) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = None
    out.append({"package": name, "version": dist.version, "plugin": data})
json.dump(out, sys.stdout)
`

type installedPackage struct {
	Package string         `json:"package"`
	Version string         `json:"version"`
	Plugin  map[string]any `json:"plugin"`
}

func (i interpreter) pulumiPackages(ctx context.Context, dir string) ([]installedPackage, error) {
	cmd := exec.CommandContext(ctx, i.python, "-c", pluginJSONScript)
	cmd.Dir = dir
	cmd.Env = i.env()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("listing installed Pulumi packages with %s failed: %s", i.python,
				strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("listing installed Pulumi packages with %s failed: %w", i.python, err)
	}
	var pkgs []installedPackage
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("parsing the installed package list: %w", err)
	}
	return pkgs, nil
}

// GetRequiredPackages reports the resource plugins of the installed Pulumi packages, as Pulumi's host does. The
// engine pre-installs what it can and loads providers lazily, so plugins of unused packages do no harm.
func (h *pythonHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	py, err := h.resolveInterpreter(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := py.pulumiPackages(ctx, req.GetInfo().GetProgramDirectory())
	if err != nil {
		return nil, err
	}
	var deps []*pulumirpc.PackageDependency
	for _, p := range pkgs {
		if p.Plugin == nil {
			continue // no pulumi-plugin.json: the pulumi SDK itself, pulumi-policy, ...
		}
		if resource, _ := p.Plugin["resource"].(bool); !resource {
			continue
		}
		if _, parameterized := p.Plugin["parameterization"]; parameterized {
			continue // parameterized packages are not used by this project
		}
		name, _ := p.Plugin["name"].(string)
		if name == "" {
			name = strings.TrimPrefix(p.Package, "pulumi-")
		}
		ver, _ := p.Plugin["version"].(string)
		if ver == "" {
			ver = p.Version
		}
		if !strings.HasPrefix(ver, "v") {
			ver = "v" + ver
		}
		server, _ := p.Plugin["server"].(string)
		deps = append(deps, &pulumirpc.PackageDependency{Kind: "resource", Name: name, Version: ver, Server: server})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *pythonHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	resp, err := h.GetRequiredPackages(ctx, &pulumirpc.GetRequiredPackagesRequest{Info: req.GetInfo()})
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(resp.GetPackages()))
	for _, p := range resp.GetPackages() {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: p.GetName(), Kind: p.GetKind(), Version: p.GetVersion(), Server: p.GetServer(),
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *pythonHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	py, err := h.resolveInterpreter(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := py.pulumiPackages(ctx, req.GetInfo().GetProgramDirectory())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Package, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	py, err := h.resolveInterpreter(req.GetInfo())
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py.python, "-c", "import platform; print(platform.python_version())")
	cmd.Env = py.env()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("running %s: %w", py.python, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: py.python,
		Version:    strings.TrimSpace(string(out)),
		Metadata:   map[string]string{"host": "complete-cluster scripts/engine", "virtualenv": py.virtualenv},
	}, nil
}

// InstallDependencies only checks that the interpreter is usable: this project creates its virtualenv itself
// (pip install -r requirements.txt), and installing from here would hide a missing step.
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	py, err := h.resolveInterpreter(req.GetInfo())
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Using Python %s (dependencies are installed by the project, not by the language host)\n",
		py.python)
	return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: []byte(msg)})
}

// Run executes a program through pulumi-language-python-exec, like Pulumi's host.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	py, err := h.resolveInterpreter(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	program := req.GetProgram()
	if info := req.GetInfo(); info != nil && info.GetProgramDirectory() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	if program == "" {
		program = "."
	}

	args := []string{"-u", h.execScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", engine,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", fmt.Sprintf("%t", req.GetDryRun()),
		"--parallel", fmt.Sprintf("%d", req.GetParallel()),
	}
	if org := req.GetOrganization(); org != "" {
		args = append(args, "--organization", org)
	}
	if rootDir := req.GetInfo().GetRootDirectory(); rootDir != "" {
		args = append(args, "--root_directory", rootDir)
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{} // the exec script expects an object, never null
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, py.python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = py.env("PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secrets))
	// The engine shows the language host's stdout and stderr to the user.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code := ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited due to signal %v", ws.Signal())}, nil
			}
			if code == exitShownToUser {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run %s): %v",
			py.python, err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs plugins written in Python. Policy packs (kind "analyzer") run as `python -m pulumi.policy
// <engine> <pack dir>`, which is how Pulumi's host launches them.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"this language host (complete-cluster scripts/engine) runs Python policy packs only, not %q plugins",
			req.GetKind())
	}
	py, err := h.resolveInterpreter(req.GetInfo())
	if err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetProgram()
	}
	args := append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
	args = append(args, dir)

	cmd := exec.CommandContext(server.Context(), py.python, args...)
	cmd.Dir = dir
	cmd.Env = py.env(req.GetEnv()...)

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting policy pack with %s: %w", py.python, err)
	}

	var sendMu sync.Mutex
	send := func(resp *pulumirpc.RunPluginResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return server.Send(resp)
	}
	var wg sync.WaitGroup
	pump := func(r io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse) {
		defer wg.Done()
		buf := make([]byte, 32*1024)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				chunk := append([]byte(nil), buf[:n]...)
				if send(wrap(chunk)) != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	})
	go pump(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	})
	wg.Wait()

	code := int32(0)
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return err
		}
		code = int32(ee.ExitCode())
	}
	return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

func setEnv(env []string, key, value string) []string {
	env = unsetEnv(env, key)
	return append(env, key+"="+value)
}

func unsetEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

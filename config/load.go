package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// LoadOptions says where a configuration comes from.
type LoadOptions struct {
	// Path is the YAML file (--config); "" means no file (defaults, then
	// environment and flags).
	Path string
	// Env holds "NAME=value" entries as os.Environ returns them; only
	// RESPCACHE_ names are read. Nil means no environment overrides.
	Env []string
	// Listen is --listen (host:port); "" = not given.
	Listen string
	// Upstream is --upstream host:port; "" = not given. It sets
	// backend.type redis, backend.redis.addrs [Upstream] and
	// backend.redis.topology standalone.
	Upstream string
}

// Load builds the configuration: defaults, then the file (strictly decoded),
// then RESPCACHE_ environment variables, then flags; then it reads
// auth.password_file and validates. On any problem it returns nil and a
// *Error listing all of them. Load does not touch the process environment
// (pass os.Environ() in opts.Env).
func Load(opts LoadOptions) (*Config, error) {
	var data []byte
	var errs errList
	if opts.Path != "" {
		var err error
		if data, err = os.ReadFile(opts.Path); err != nil {
			errs.add(FieldError{File: opts.Path, Msg: fmt.Sprintf("cannot read config file: %v", err)})
		}
	}
	return load(opts, data, errs, readSecretFile)
}

// load is Load with the file's bytes already read and the secret reader
// passed in (the fuzz target passes one that never touches the disk).
func load(opts LoadOptions, data []byte, errs errList, readSecret func(string) ([]byte, error)) (*Config, error) {
	c := Default()
	if data != nil {
		decodeFile(c, opts.Path, data, &errs)
	}
	applyEnv(c, opts.Env, &errs)
	applyFlags(c, opts)
	c.resolvePassword(&errs, readSecret)
	if err := c.Validate(); err != nil {
		errs = append(errs, err.(*Error).Errors...)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// resolvePassword fills Auth.ResolvedPassword, reading auth.password_file
// when it is set (and auth.password is not; Validate reports both set).
func (c *Config) resolvePassword(errs *errList, readSecret func(string) ([]byte, error)) {
	c.Auth.ResolvedPassword = c.Auth.Password
	if c.Auth.PasswordFile == "" || c.Auth.Password != "" {
		return
	}
	b, err := readSecret(c.Auth.PasswordFile)
	if err != nil {
		errs.add(c.errAt("auth.password_file", "cannot read: %v", err))
		return
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		errs.add(c.errAt("auth.password_file", "%s is empty (an empty password would turn AUTH off)", c.Auth.PasswordFile))
		return
	}
	c.Auth.ResolvedPassword = pw
}

// maxSecretSize bounds what readSecretFile reads, so a password_file that
// names /dev/zero or a log file fails instead of eating memory.
const maxSecretSize = 64 << 10

func readSecretFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretSize {
		return nil, fmt.Errorf("%s is larger than %d bytes; is it the right file?", name, maxSecretSize)
	}
	return b, nil
}

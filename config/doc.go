// Package config is respcache's configuration: the YAML schema of DESIGN.md
// ("Configuration contract") as Go types, its defaults, strict decoding,
// environment and flag overrides, and validation that reports every problem
// at once with where it came from. It imports only the standard library and
// gopkg.in/yaml.v3; cmd/respcache maps a *Config onto each package's own
// Config, and no other package sees YAML.
//
// # Loading
//
// Load runs five steps over one *Config:
//
//  1. Default: every key has a value (Default).
//  2. File: the YAML is parsed into a yaml.Node tree and walked against the
//     schema (the yaml tags of the types in config.go), so every key has a
//     line. Unknown keys (with a did-you-mean), duplicate keys, values of the
//     wrong type, merge keys and multi-document files are errors; an empty
//     file is the defaults. Aliases are followed; the walk follows the
//     schema's types, so its depth is bounded even when aliases form cycles.
//  3. Environment: RESPCACHE_<PATH> overrides a key (below).
//  4. Flags: --listen and --upstream.
//  5. auth.password_file is read, then Validate runs every rule.
//
// Every step records the paths it set explicitly, with their origin (file
// and line, "env RESPCACHE_X" or "flag --listen"); IsSet exposes that, and
// errors found later (in validation) are located with it. Problems from all
// steps are collected into one *Error of FieldErrors, sorted by line then
// path (errors with no line, from the environment, flags or defaults, come
// first), so --check-config prints them all:
//
//	env RESPCACHE_LOG_LEVEL: log.level: invalid value "loud" (want one of: debug, info, warn, error)
//	respcache.yaml:7: cache.max_memroy: unknown key (did you mean max_memory?)
//	respcache.yaml:12: backend.redis.db: must be between 0 and 15, got 16
//
// # Environment names
//
// The variable for a key is RESPCACHE_ followed by its path with the keys
// upper-cased and joined by "_": backend.redis.dial_timeout is
// RESPCACHE_BACKEND_REDIS_DIAL_TIMEOUT. Keys contain "_" themselves, so a
// name cannot be split back into a path; instead the package builds, once,
// the table of every scalar and list-of-scalars path in the schema and looks
// the whole name up (EnvNames lists them). Lists are comma-separated
// (RESPCACHE_BACKEND_REDIS_ADDRS=a:6379,b:6379). Values are parsed by the
// same rules as file values. cache.namespaces is a list of mappings and can
// only be set in the file. Any other RESPCACHE_ variable is an error, so a
// typo in a deployment manifest is caught rather than ignored.
//
// # Features not built yet
//
// The schema is a contract with users and is complete, but some features
// behind it land later. The notBuilt table in validate.go lists them by path
// prefix (a key or a whole section, or "path=value" for one value of a key).
// A key under such a prefix that was set explicitly (file, environment or
// flag) is an error saying so; defaults never are, so the full schema can be
// loaded and dumped today. Delete the entry when the feature lands.
//
// # Units
//
// Size is bytes: a bare integer, or a number with B, KiB/MiB/GiB/TiB
// (powers of 2) or KB/MB/GB/TB (powers of 10), case ignored, an optional
// space before the unit. Fractions are accepted only when the result is a
// whole number of bytes (1.5GiB yes, 0.3KiB no). Duration is Go syntax
// (250ms, 5m). Both reject negatives.
//
// # Reload
//
// Diff compares two loaded configurations and splits the changed paths into
// those applied live (cache quotas, TTLs and namespaces, trace sampling, log
// level, slow-log threshold) and those that need a restart.
//
// # Secrets
//
// String and Redacted mask auth.password, the password read from
// auth.password_file and backend.redis.password; log those, never the
// *Config fields directly.
//
// # Relative paths
//
// auth.password_file, backend.disk.dir and write.journal_dir are used as
// written: relative paths are relative to the process's working directory,
// not to the config file.
package config

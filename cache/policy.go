package cache

import "github.com/respcache/respcache/cache/internal/policy"

// The eviction policies are internal to the cache; these names let the
// simulator (respcache sim) run a policy on its own, in count mode, where
// every entry costs 1 and no byte storage is involved.

// Policy is an eviction/admission policy; see the internal policy package.
type Policy = policy.Policy

// PolicyConfig configures a Policy.
type PolicyConfig = policy.Config

// NewPolicy returns the named policy ("" or "adaptive" for the product's).
func NewPolicy(name string, cfg PolicyConfig) (Policy, error) { return policy.New(name, cfg) }

// PolicyNames lists the policies NewPolicy knows.
func PolicyNames() []string { return policy.Names() }

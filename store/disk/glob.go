package disk

// globMatch reports whether str matches the Redis glob pattern (port of
// Redis's stringmatchlen): * ? [abc] [^abc] [a-z] and \x escapes; nocase
// folds ASCII case.
func globMatch(pattern, str []byte, nocase bool) bool {
	skip := false
	return globMatchDepth(pattern, str, nocase, 0, &skip)
}

// maxGlobDepth bounds the recursion (one level per '*'); Redis has no such
// bound, but a pattern of millions of "*a" could exhaust the goroutine
// stack, which is fatal in Go. Deeper patterns never match.
const maxGlobDepth = 10000

func globMatchDepth(p, s []byte, nocase bool, depth int, skipLonger *bool) bool {
	if depth > maxGlobDepth {
		return false
	}
	fold := func(c byte) byte {
		if nocase && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if globMatchDepth(p[1:], s, nocase, depth+1, skipLonger) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			// The rest of the pattern matches nowhere in the rest of the
			// string, so a longer match for an earlier '*' cannot help
			// (Redis's skipLongerMatches, which keeps this polynomial).
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if len(p) == 0 {
					break
				}
				if p[0] == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if p[0] == ']' {
					break
				} else if len(p) >= 3 && p[1] == '-' {
					start, end := p[0], p[2]
					c := s[0]
					if start > end {
						start, end = end, start
					}
					if nocase {
						start, end, c = fold(start), fold(end), fold(c)
					}
					p = p[2:]
					if c >= start && c <= end {
						match = true
					}
				} else if fold(p[0]) == fold(s[0]) {
					match = true
				}
				p = p[1:]
			}
			if len(p) == 0 {
				// Unterminated class: Redis steps back so that the
				// pattern's end is treated as ']'.
				p = p[:0]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			if fold(p[0]) != fold(s[0]) {
				return false
			}
			s = s[1:]
		default:
			if fold(p[0]) != fold(s[0]) {
				return false
			}
			s = s[1:]
		}
		if len(p) > 0 {
			p = p[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// scanOpts are the MATCH/COUNT/TYPE options of SCAN, HSCAN, SSCAN, ZSCAN.
type scanOpts struct {
	match   []byte  // nil: everything
	count   int64   // default 10
	typ     keyType // SCAN TYPE; typeNone with hasType matches nothing
	hasType bool
}

// parseScanOpts parses the options after the cursor as Redis 7.0 does;
// allowType enables TYPE (SCAN only).
func parseScanOpts(args [][]byte, allowType bool) (scanOpts, error) {
	o := scanOpts{count: 10}
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return o, errSyntax
		}
		switch {
		case eqFold(args[i], "count"):
			n, err := argInt(args[i+1])
			if err != nil {
				return o, err
			}
			if n < 1 {
				return o, errSyntax
			}
			o.count = n
		case eqFold(args[i], "match"):
			o.match = args[i+1]
			if len(o.match) == 1 && o.match[0] == '*' {
				o.match = nil
			}
		case allowType && eqFold(args[i], "type"):
			o.typ = parseType(args[i+1])
			o.hasType = true
		default:
			return o, errSyntax
		}
	}
	return o, nil
}

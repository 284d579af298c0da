package disk

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// parseScanReply decodes a RESP2 SCAN-family reply: cursor and items.
func parseScanReply(t *testing.T, b []byte) (string, []string) {
	t.Helper()
	s := string(b)
	line := func() string {
		i := strings.Index(s, "\r\n")
		if i < 0 {
			t.Fatalf("truncated scan reply %q", b)
		}
		l := s[:i]
		s = s[i+2:]
		return l
	}
	bulk := func() string {
		h := line()
		n, err := strconv.Atoi(strings.TrimPrefix(h, "$"))
		if h[0] != '$' || err != nil || len(s) < n+2 {
			t.Fatalf("bad bulk %q in scan reply %q", h, b)
		}
		v := s[:n]
		s = s[n+2:]
		return v
	}
	if line() != "*2" {
		t.Fatalf("scan reply %q", b)
	}
	cursor := bulk()
	h := line()
	n, err := strconv.Atoi(strings.TrimPrefix(h, "*"))
	if h[0] != '*' || err != nil {
		t.Fatalf("scan reply %q", b)
	}
	items := make([]string, n)
	for i := range items {
		items[i] = bulk()
	}
	if s != "" {
		t.Fatalf("trailing bytes in scan reply %q", b)
	}
	return cursor, items
}

// scanAll runs cmd key cursor COUNT count... until cursor 0 and returns the
// items of every page and the number of pages; between pages it calls
// between (may be nil) with the page number.
func scanAll(t *testing.T, do func(args ...string) []byte, cmd, key string, count int, between func(page int)) (items []string, pages int) {
	t.Helper()
	cursor := "0"
	for {
		args := []string{cmd, key, cursor, "COUNT", strconv.Itoa(count)}
		if cmd == "SCAN" {
			args = []string{cmd, cursor, "COUNT", strconv.Itoa(count)}
		}
		next, page := parseScanReply(t, do(args...))
		items = append(items, page...)
		pages++
		if next == "0" {
			return items, pages
		}
		if pages > 100000 {
			t.Fatalf("%s %s: no end after %d pages", cmd, key, pages)
		}
		if between != nil {
			between(pages)
		}
		cursor = next
	}
}

func engineDo(c *Conn) func(args ...string) []byte {
	return func(args ...string) []byte {
		a := make([][]byte, len(args))
		for i, s := range args {
			a[i] = []byte(s)
		}
		return c.Do(context.Background(), a, nil)
	}
}

// members returns every other item (the members of a HSCAN/ZSCAN page) or
// all of them (SSCAN).
func scanMembers(cmd string, items []string) []string {
	if cmd == "SSCAN" {
		return items
	}
	var out []string
	for i := 0; i < len(items); i += 2 {
		out = append(out, items[i])
	}
	return out
}

// TestScanPaged: big hashes, sets and zsets are scanned COUNT elements at a
// time with a real cursor; every element present for the whole iteration
// is returned even when others are added and removed between pages.
func TestScanPaged(t *testing.T) {
	for _, tc := range []struct {
		cmd, add, del string
		size          int
		pair          bool // add takes member value (HSET) or score member (ZADD)
	}{
		{"HSCAN", "HSET", "HDEL", 1000, true},
		{"SSCAN", "SADD", "SREM", 1000, false},
		{"ZSCAN", "ZADD", "ZREM", 1000, true},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			s := newTestStore(t)
			c := s.NewConn()
			do := engineDo(c)
			addMember := func(m string) {
				args := []string{tc.add, "k", m}
				switch tc.add {
				case "HSET":
					args = append(args, "v"+m)
				case "ZADD":
					args = []string{tc.add, "k", "1.5", m}
				}
				if r := string(do(args...)); r != ":1\r\n" {
					t.Fatalf("%q: %q", args, r)
				}
			}
			var want []string
			for i := 0; i < tc.size; i++ {
				m := fmt.Sprintf("%x", uint32(i)*2654435761) // spread prefixes
				addMember(m)
				want = append(want, m)
			}
			items, pages := scanAll(t, do, tc.cmd, "k", 10, nil)
			got := scanMembers(tc.cmd, items)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(slices.Compact(got), want) {
				t.Fatalf("%s returned %d members (%d distinct), want the %d added", tc.cmd, len(got), len(slices.Compact(slices.Clone(got))), len(want))
			}
			if pages < tc.size/20 {
				t.Errorf("%s COUNT 10 of %d members: %d pages, want about %d", tc.cmd, tc.size, pages, tc.size/10)
			}
			if tc.cmd != "SSCAN" {
				for i := 0; i < len(items); i += 2 {
					wantV := "v" + items[i]
					if tc.cmd == "ZSCAN" {
						wantV = "1.5"
					}
					if items[i+1] != wantV {
						t.Fatalf("%s: %q -> %q, want %q", tc.cmd, items[i], items[i+1], wantV)
					}
				}
			}
			// Churn between pages: delete the even members added above
			// and add new ones; the odd ones stay for the whole scan.
			var stay []string
			for i, m := range want {
				if i%2 == 1 {
					stay = append(stay, m)
				}
			}
			i := 0
			items, _ = scanAll(t, do, tc.cmd, "k", 7, func(page int) {
				for n := 0; n < 5 && i < len(want); n++ {
					if i%2 == 0 {
						do(tc.del, "k", want[i])
					}
					addMember(fmt.Sprintf("new%d-%d", page, n))
					i++
				}
			})
			got = scanMembers(tc.cmd, items)
			for _, m := range stay {
				if !slices.Contains(got, m) {
					t.Fatalf("%s with churn: %q, present throughout, not returned", tc.cmd, m)
				}
			}
		})
	}
}

// TestScanPagedPrefixRuns: members that share 8-byte prefixes, empty and
// NUL-led members; pages never split a prefix run, the scan ends and
// returns everything.
func TestScanPagedPrefixRuns(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	do := engineDo(c)
	want := []string{"", "\x00", "\x00\x00", "\x00\x00\x00\x00\x00\x00\x00\x00x", "a", "a\x00", "a\x00\x00\x00\x00\x00\x00\x00"}
	for i := 0; i < 300; i++ {
		want = append(want, fmt.Sprintf("sameprefix:%04d", i)) // one run of 300
		want = append(want, fmt.Sprintf("%08d", i))            // runs of 1
	}
	for _, m := range want {
		do("SADD", "s", m)
	}
	if r := string(do("SCARD", "s")); r != fmt.Sprintf(":%d\r\n", len(want)) {
		t.Fatalf("SCARD: %q", r)
	}
	items, pages := scanAll(t, do, "SSCAN", "s", 5, nil)
	slices.Sort(items)
	slices.Sort(want)
	if !slices.Equal(items, want) {
		t.Fatalf("SSCAN returned %d members, want %d", len(items), len(want))
	}
	// 300 single runs in pages of 5, the 300-member run in one page, plus
	// the short members' runs.
	if pages < 60 || pages > 70 {
		t.Errorf("SSCAN COUNT 5: %d pages, want 60..70", pages)
	}
	// The cursor of the page after the "sameprefix" run resumes past it.
	for _, tc := range []struct {
		member string
	}{{"sameprefix:0001"}, {"a"}, {"00000007"}} {
		cur := scanCursorOf([]byte(tc.member))
		if got := string(scanResume(cur)); !strings.HasPrefix(tc.member, got) {
			t.Errorf("scanResume(scanCursorOf(%q)) = %q: not a prefix", tc.member, got)
		}
	}
}

// TestScanSmallOneReply: up to scanAllMax elements every cursor and COUNT
// get the whole collection with cursor 0, as Redis's compact encodings do
// (also checked byte for byte against redis-server in testdata/diff).
func TestScanSmallOneReply(t *testing.T) {
	s := newTestStore(t)
	do := engineDo(s.NewConn())
	for i := 0; i < 128; i++ {
		do("HSET", "h", "f"+strconv.Itoa(i), "v")
	}
	for _, cur := range []string{"0", "12345", "-1"} {
		next, items := parseScanReply(t, do("HSCAN", "h", cur, "COUNT", "1"))
		if next != "0" || len(items) != 256 {
			t.Fatalf("HSCAN h %s of 128 fields: cursor %s, %d items", cur, next, len(items))
		}
	}
	do("HSET", "h", "f128", "v")
	if next, items := parseScanReply(t, do("HSCAN", "h", "0", "COUNT", "1")); next == "0" || len(items) > 20 {
		t.Fatalf("HSCAN of 129 fields COUNT 1: cursor %s, %d items: want a page", next, len(items))
	}
}

// TestScanPagedVsRedis: for collections past the compact encodings, a full
// HSCAN/SSCAN/ZSCAN iteration returns the same elements (and values) as
// redis-server's, although pages and order differ (Redis walks a hash
// table).
func TestScanPagedVsRedis(t *testing.T) {
	srv := redistest.Start(t)
	rc := redistest.Dial(t, srv.Addr())
	s := newTestStore(t)
	ec := engineDo(s.NewConn())
	for i := 0; i < 700; i++ {
		m := "m" + strconv.Itoa(i*7919)
		for _, do := range []func(args ...string) []byte{rc.Do, ec} {
			do("HSET", "h", m, "v"+strconv.Itoa(i))
			do("SADD", "s", m)
			do("SADD", "i", strconv.Itoa(i*i))
			do("ZADD", "z", strconv.Itoa(i%13)+".25", m)
		}
	}
	for _, sc := range []struct{ cmd, key string }{{"HSCAN", "h"}, {"SSCAN", "s"}, {"SSCAN", "i"}, {"ZSCAN", "z"}} {
		redisItems, _ := scanAll(t, rc.Do, sc.cmd, sc.key, 10, nil)
		engItems, pages := scanAll(t, ec, sc.cmd, sc.key, 10, nil)
		if pages < 20 {
			t.Errorf("%s %s: %d pages for 700 elements, COUNT 10", sc.cmd, sc.key, pages)
		}
		norm := func(items []string) []string {
			var out []string
			if sc.cmd == "SSCAN" {
				out = slices.Clone(items)
			} else {
				for i := 0; i < len(items); i += 2 {
					out = append(out, items[i]+"="+items[i+1])
				}
			}
			slices.Sort(out)
			return slices.Compact(out)
		}
		if r, e := norm(redisItems), norm(engItems); !slices.Equal(r, e) {
			t.Errorf("%s %s: redis %d distinct elements, engine %d; differ", sc.cmd, sc.key, len(r), len(e))
		}
	}
}

// FuzzScanCursor: the resume point of a member's cursor never sorts after
// the member (a page resumed from it cannot skip the member), and the
// cursor of any member between the two is the same (so only members of
// the same 8-byte run are returned again).
func FuzzScanCursor(f *testing.F) {
	for _, s := range []string{"", "\x00", "a", "a\x00", "abcdefgh", "abcdefghij", "\x00\x00\x00\x00\x00\x00\x00\x00z"} {
		f.Add([]byte(s), []byte("a"))
	}
	f.Fuzz(func(t *testing.T, m, x []byte) {
		c := scanCursorOf(m)
		r := scanResume(c)
		if bytes.Compare(r, m) > 0 {
			t.Fatalf("scanResume(scanCursorOf(%q)) = %q sorts after it", m, r)
		}
		if bytes.Compare(r, x) <= 0 && bytes.Compare(x, m) < 0 && scanCursorOf(x) != c {
			t.Fatalf("%q between resume %q and %q has cursor %x, want %x", x, r, m, scanCursorOf(x), c)
		}
	})
}

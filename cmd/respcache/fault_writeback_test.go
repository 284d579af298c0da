//go:build linux

package main

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/internal/reliability"
)

var segmentPath = regexp.MustCompile(`write \S+\.wal:`)

// TestFaultWriteBackJournalDiskFull puts the write-back journal on a 2 MiB
// tmpfs while writers push 4 KiB values: the disk fills, the writes that
// cannot be journaled get the journal's error (their outcome unknown to the
// client, they may still be applied), the flusher's confirmation frees the
// space, writes are acknowledged again, and after the drain redis-server
// holds every acknowledged write.
func TestFaultWriteBackJournalDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts respcache and redis-server; skipped with -short")
	}
	journalDir := t.TempDir()
	if err := syscall.Mount("tmpfs", journalDir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a 2 MiB tmpfs for the journal (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(journalDir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", journalDir, err)
		}
	})
	up := redistest.Start(t)
	w := newWBInstance(t, up.Addr(), "everysec", "")
	// Point the journal at the tmpfs.
	w.setJournalDir(journalDir)
	w.start()
	defer w.kill()

	acked := map[string]bool{}
	errTexts := map[string]int{}
	var firstErr, recovered time.Time
	wbPushSets(t, w.addr, 4, "df", 4*time.Second, func(key string, reply []byte, now time.Time) {
		if string(reply) == "+OK\r\n" {
			acked[key] = true
			if !firstErr.IsZero() && recovered.IsZero() {
				recovered = now
			}
			return
		}
		// The segment file in the message differs per record.
		text := segmentPath.ReplaceAllString(strings.TrimSpace(string(reply)), "write <journal segment>:")
		errTexts[text]++
		if firstErr.IsZero() {
			firstErr = now
		}
	})
	if firstErr.IsZero() {
		t.Fatalf("%d writes of 4 KiB, no error: the 2 MiB journal never filled", len(acked))
	}
	if recovered.IsZero() {
		t.Fatalf("writes never succeeded again after the journal's disk filled (errors: %v)", errTexts)
	}
	for text := range errTexts {
		if !strings.HasPrefix(text, "-ERR write-back journal: ") || !strings.Contains(text, "no space left on device") {
			t.Errorf("unexpected error reply %q", text)
		}
	}
	w.stop() // drains
	d := redistest.Dial(t, up.Addr())
	for key := range acked {
		if got := d.DoString("STRLEN", key); got != ":4096\r\n" {
			t.Fatalf("acknowledged %s lost: STRLEN = %q", key, got)
		}
	}
	var texts []string
	nerr := 0
	for text, n := range errTexts {
		texts = append(texts, text)
		nerr += n
	}
	t.Logf("%d writes acknowledged, %d refused (%v); first refusal to next acknowledgement %v", len(acked), nerr, texts, recovered.Sub(firstErr))
	reliability.Record(t, reliability.Result{
		Suite:    "fault",
		Scenario: "write-back journal disk full",
		Promise: "A write that cannot be journaled is refused with the journal's error (its outcome is unknown to the client, as after a lost connection); " +
			"acknowledged writes are never lost; once flushed records are confirmed the journal frees its space and writes are acknowledged again.",
		ClientsSee: texts,
		Measured: fmt.Sprintf("journal on a 2 MiB tmpfs, 4 writers of 4 KiB SETs for 4s, redis-server up: %d acknowledged, %d refused while the disk was full; "+
			"every acknowledged write in redis-server after the drain", len(acked), nerr),
		Lost:     0,
		Recovery: recovered.Sub(firstErr),
	})
}

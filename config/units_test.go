package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string // substring of the error; "" = no error
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"64MiB", 67108864, ""},
		{"64mib", 67108864, ""},
		{"64 MiB", 67108864, ""},
		{"  64MIB ", 67108864, ""},
		{"1GB", 1000000000, ""},
		{"1gb", 1000000000, ""},
		{"1KB", 1000, ""},
		{"1KiB", 1024, ""},
		{"2TiB", 2 << 40, ""},
		{"3TB", 3e12, ""},
		{"512B", 512, ""},
		{"512 b", 512, ""},
		{"1.5GiB", 1610612736, ""},
		{"0.5KB", 500, ""},
		{"1.25KiB", 1280, ""},
		{"007MiB", 7 << 20, ""},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"8388607TiB", 8388607 << 40, ""},
		{"0.3KiB", 0, "not a whole number of bytes"},
		{"1.5", 0, "not a whole number of bytes"},
		{"1.1B", 0, "not a whole number of bytes"},
		{"-1", 0, "must not be negative"},
		{"-1MiB", 0, "must not be negative"},
		{"9223372036854775808", 0, "too large"},
		{"8388608TiB", 0, "too large"},
		{"99999999999999999999999999GB", 0, "too large"},
		{"", 0, "empty size"},
		{"MiB", 0, "invalid size"},
		{"1.MiB", 0, "invalid size"},
		{".5MiB", 0, "invalid size"},
		{"1.2.3MiB", 0, "invalid size"},
		{"1e3", 0, "unknown unit"},
		{"64m", 0, "unknown unit"},
		{"64k", 0, "unknown unit"},
		{"64 MiB MiB", 0, "unknown unit"},
		{"+5", 0, "invalid size"},
		{"0x10", 0, "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1B"},
		{1500, "1500B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{64 << 20, "64MiB"},
		{1e9, "1GB"},
		{1536 << 20, "1536MiB"},
		{1 << 40, "1TiB"},
		{1024000, "1000KiB"}, // 1000KiB beats 1024KB: smaller number
		{1e12, "1TB"},
		{-5, "-5B"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if tt.in < 0 {
			continue
		}
		back, err := ParseSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in.String(), back, err, tt.in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""},
		{"0s", 0, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"5m", 5 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{" 10s ", 10 * time.Second, ""},
		{"1.5s", 1500 * time.Millisecond, ""},
		{"-1s", 0, "must not be negative"},
		{"10", 0, "missing unit"},
		{"ten seconds", 0, "invalid duration"},
		{"", 0, "invalid duration"},
		{"5d", 0, "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got.D() != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{5 * time.Millisecond, "5ms"},
		{10 * time.Second, "10s"},
		{5 * time.Minute, "5m"},
		{90 * time.Minute, "1h30m"},
		{2 * time.Hour, "2h"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		d := Duration(tt.in)
		if got := d.String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", d.String(), back, err, tt.in)
		}
	}
}

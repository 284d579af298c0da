package proxy

import "github.com/tidwall/redcon"

// Reply encoding uses redcon's allocation-free Append functions.

func appendBulk(b, v []byte) []byte              { return redcon.AppendBulk(b, v) }
func appendInt(b []byte, v int64) []byte         { return redcon.AppendInt(b, v) }
func appendBulkString(b []byte, v string) []byte { return redcon.AppendBulkString(b, v) }
func appendArray(b []byte, n int) []byte         { return redcon.AppendArray(b, n) }

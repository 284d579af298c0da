package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// keyCases are representative argument lists for every command of the table
// that has key specifications. Each key is named k1, k2, ... and no other
// argument looks like one, so a wrong position shows in the key names.
var keyCases = []string{
	"APPEND k1 v",
	"BITCOUNT k1 0 -1",
	"BITFIELD k1 GET u8 0 SET u8 0 1",
	"BITFIELD_RO k1 GET u8 0",
	"BITOP AND k1 k2 k3 k4",
	"BITOP NOT k1 k2",
	"BITPOS k1 1 0",
	"BLMOVE k1 k2 LEFT RIGHT 0",
	"BLMPOP 0 3 k1 k2 k3 LEFT COUNT 2",
	"BLPOP k1 k2 k3 0",
	"BRPOP k1 k2 0",
	"BRPOPLPUSH k1 k2 0",
	"BZMPOP 1 2 k1 k2 MIN",
	"BZPOPMAX k1 k2 0",
	"BZPOPMIN k1 0",
	"COPY k1 k2 DB 1 REPLACE",
	"DECR k1",
	"DECRBY k1 3",
	"DEL k1 k2 k3",
	"DUMP k1",
	"EVAL script 2 k1 k2 a1 a2",
	"EVAL script 0 a1",
	"EVAL_RO script 1 k1 a1",
	"EVALSHA sha 3 k1 k2 k3 a1",
	"EVALSHA_RO sha 1 k1",
	"EXISTS k1 k2",
	"EXPIRE k1 10 NX",
	"EXPIREAT k1 100000",
	"EXPIRETIME k1",
	"FCALL fn 2 k1 k2 a1",
	"FCALL_RO fn 1 k1 a1 a2",
	"GEOADD k1 NX 13.3 38.1 m1",
	"GEODIST k1 m1 m2 km",
	"GEOHASH k1 m1 m2",
	"GEOPOS k1 m1",
	"GEORADIUS k1 15 37 200 km WITHDIST",
	"GEORADIUS k1 15 37 200 km STORE k2",
	"GEORADIUS k1 15 37 200 km STOREDIST k2",
	"GEORADIUS k1 15 37 200 km STORE k2 STOREDIST k3",
	"GEORADIUS_RO k1 15 37 200 km",
	"GEORADIUSBYMEMBER k1 m1 100 km STORE k2",
	"GEORADIUSBYMEMBER k1 m1 100 km STOREDIST k2 ASC",
	"GEORADIUSBYMEMBER_RO k1 m1 100 km",
	"GEOSEARCH k1 FROMMEMBER m1 BYRADIUS 10 km",
	"GEOSEARCHSTORE k1 k2 FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST",
	"GET k1",
	"GETBIT k1 7",
	"GETDEL k1",
	"GETEX k1 EX 10",
	"GETRANGE k1 0 -1",
	"GETSET k1 v",
	"HDEL k1 f1 f2",
	"HEXISTS k1 f",
	"HGET k1 f",
	"HGETALL k1",
	"HINCRBY k1 f 1",
	"HINCRBYFLOAT k1 f 1.5",
	"HKEYS k1",
	"HLEN k1",
	"HMGET k1 f1 f2",
	"HMSET k1 f1 v1 f2 v2",
	"HRANDFIELD k1 2 WITHVALUES",
	"HSCAN k1 0 MATCH * COUNT 10",
	"HSET k1 f1 v1",
	"HSETNX k1 f v",
	"HSTRLEN k1 f",
	"HVALS k1",
	"INCR k1",
	"INCRBY k1 2",
	"INCRBYFLOAT k1 2.5",
	"LCS k1 k2 LEN",
	"LINDEX k1 0",
	"LINSERT k1 BEFORE p v",
	"LLEN k1",
	"LMOVE k1 k2 LEFT LEFT",
	"LMPOP 2 k1 k2 RIGHT",
	"LPOP k1 2",
	"LPOS k1 v RANK 1",
	"LPUSH k1 a b",
	"LPUSHX k1 a",
	"LRANGE k1 0 -1",
	"LREM k1 0 v",
	"LSET k1 0 v",
	"LTRIM k1 0 1",
	"MEMORY USAGE k1 SAMPLES 5",
	"MGET k1 k2 k3",
	"MIGRATE 127.0.0.1 1 k1 0 5000",
	"MIGRATE 127.0.0.1 1 \"\" 0 5000 COPY REPLACE KEYS k1 k2 k3",
	"MIGRATE 127.0.0.1 1 \"\" 0 5000 AUTH pw KEYS k1 k2",
	"MIGRATE 127.0.0.1 1 \"\" 0 5000 AUTH2 u keys KEYS k1 k2",
	"MIGRATE 127.0.0.1 1 k1 0 5000 KEYS k2",
	"MOVE k1 1",
	"MSET k1 v1 k2 v2 k3 v3",
	"MSETNX k1 v1 k2 v2",
	"OBJECT ENCODING k1",
	"OBJECT FREQ k1",
	"OBJECT IDLETIME k1",
	"OBJECT REFCOUNT k1",
	"PERSIST k1",
	"PEXPIRE k1 100",
	"PEXPIREAT k1 100000",
	"PEXPIRETIME k1",
	"PFADD k1 a b",
	"PFCOUNT k1 k2",
	"PFDEBUG GETREG k1",
	"PFMERGE k1 k2 k3",
	"PSETEX k1 100 v",
	"PTTL k1",
	"RENAME k1 k2",
	"RENAMENX k1 k2",
	"RESTORE k1 0 payload REPLACE",
	"RESTORE-ASKING k1 0 payload",
	"RPOP k1",
	"RPOPLPUSH k1 k2",
	"RPUSH k1 a",
	"RPUSHX k1 a b",
	"SADD k1 m1 m2",
	"SCARD k1",
	"SDIFF k1 k2 k3",
	"SDIFFSTORE k1 k2 k3",
	"SET k1 v EX 10 GET",
	"SETBIT k1 7 1",
	"SETEX k1 10 v",
	"SETNX k1 v",
	"SETRANGE k1 0 v",
	"SINTER k1 k2",
	"SINTERCARD 2 k1 k2 LIMIT 5",
	"SINTERSTORE k1 k2 k3",
	"SISMEMBER k1 m",
	"SMEMBERS k1",
	"SMISMEMBER k1 m1 m2",
	"SMOVE k1 k2 m",
	"SORT k1",
	"SORT k1 BY w_* LIMIT 0 10 GET o_* DESC ALPHA STORE k2",
	"SORT k1 STORE k2",
	"SORT k1 GET store LIMIT 0 1 STORE k2 STORE k3",
	"SORT k1 STORE",
	"SORT_RO k1 BY w_* GET o_* ALPHA",
	"SPOP k1 2",
	"SPUBLISH k1 msg",
	"SRANDMEMBER k1 3",
	"SREM k1 m",
	"SSCAN k1 0",
	"SSUBSCRIBE k1 k2",
	"STRLEN k1",
	"SUBSTR k1 0 2",
	"SUNION k1 k2",
	"SUNIONSTORE k1 k2 k3",
	"SUNSUBSCRIBE k1 k2",
	"TOUCH k1 k2",
	"TTL k1",
	"TYPE k1",
	"UNLINK k1 k2 k3",
	"WATCH k1 k2",
	"XACK k1 g 1-1 2-2",
	"XADD k1 MAXLEN ~ 10 * f v",
	"XAUTOCLAIM k1 g c 10 0-0 COUNT 5",
	"XCLAIM k1 g c 10 1-1 2-2 FORCE",
	"XDEL k1 1-1",
	"XGROUP CREATE k1 g $ MKSTREAM",
	"XGROUP CREATECONSUMER k1 g c",
	"XGROUP DELCONSUMER k1 g c",
	"XGROUP DESTROY k1 g",
	"XGROUP SETID k1 g 0",
	"XINFO CONSUMERS k1 g",
	"XINFO GROUPS k1",
	"XINFO STREAM k1 FULL COUNT 5",
	"XLEN k1",
	"XPENDING k1 g - + 10",
	"XRANGE k1 - + COUNT 2",
	"XREAD COUNT 2 STREAMS k1 k2 0 0",
	"XREAD BLOCK 10 STREAMS k1 $",
	"XREADGROUP GROUP g c COUNT 1 STREAMS k1 k2 k3 > > >",
	"XREADGROUP GROUP g c NOACK STREAMS k1 >",
	"XREVRANGE k1 + - COUNT 3",
	"XSETID k1 5-5",
	"XTRIM k1 MAXLEN 10",
	"ZADD k1 NX 1 a 2 b",
	"ZCARD k1",
	"ZCOUNT k1 0 10",
	"ZDIFF 2 k1 k2 WITHSCORES",
	"ZDIFFSTORE k1 2 k2 k3",
	"ZINCRBY k1 1 m",
	"ZINTER 3 k1 k2 k3 WEIGHTS 1 2 3",
	"ZINTERCARD 2 k1 k2 LIMIT 1",
	"ZINTERSTORE k1 2 k2 k3 AGGREGATE MAX",
	"ZLEXCOUNT k1 - +",
	"ZMPOP 2 k1 k2 MAX COUNT 3",
	"ZMSCORE k1 a b",
	"ZPOPMAX k1 2",
	"ZPOPMIN k1",
	"ZRANDMEMBER k1 2",
	"ZRANGE k1 0 -1 WITHSCORES",
	"ZRANGEBYLEX k1 - +",
	"ZRANGEBYSCORE k1 0 10",
	"ZRANGESTORE k1 k2 0 -1",
	"ZRANK k1 m",
	"ZREM k1 a",
	"ZREMRANGEBYLEX k1 - +",
	"ZREMRANGEBYRANK k1 0 1",
	"ZREMRANGEBYSCORE k1 0 1",
	"ZREVRANGE k1 0 -1",
	"ZREVRANGEBYLEX k1 + -",
	"ZREVRANGEBYSCORE k1 10 0",
	"ZREVRANK k1 m",
	"ZSCAN k1 0",
	"ZSCORE k1 m",
	"ZUNION 2 k1 k2 AGGREGATE SUM",
	"ZUNIONSTORE k1 3 k2 k3 k4 WEIGHTS 1 1 1",
}

// TestKeyPositionsMatchRedis checks appendKeyPositions against what a live
// redis-server answers for COMMAND GETKEYS, for every command of the table
// that has key specifications.
func TestKeyPositionsMatchRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.Dial(t, srv.Addr())
	covered := map[string]bool{}
	for _, line := range keyCases {
		args, err := redistest.SplitArgs(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		bargs := make([][]byte, len(args))
		for i, a := range args {
			bargs[i] = []byte(a)
		}
		cmd := lookupCommand(bargs)
		if cmd == nil {
			t.Errorf("%s: not in the command table", line)
			continue
		}
		covered[cmd.Name] = true
		var got []string
		for _, p := range cmd.appendKeyPositions(nil, bargs) {
			got = append(got, args[p])
		}
		reply := c.Do(append([]string{"COMMAND", "GETKEYS"}, args...)...)
		want, err := parseStringArray(reply)
		if err != nil {
			// Redis finds no keys ("Invalid arguments specified"): the
			// proxy must not find any either.
			if len(got) != 0 {
				t.Errorf("%s: redis replied %q, proxy found keys %q", line, reply, got)
			}
			continue
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: proxy keys %q, redis COMMAND GETKEYS %q", line, got, want)
		}
	}
	var missing []string
	var walk func([]*Command)
	walk = func(cs []*Command) {
		for _, c := range cs {
			if len(c.KeySpecs) > 0 && !covered[c.Name] {
				missing = append(missing, c.Name)
			}
			walk(c.Subcommands)
		}
	}
	walk(commandList)
	if len(missing) > 0 {
		t.Errorf("commands with key specs not covered: %v", missing)
	}
	if len(covered) < 80 {
		t.Errorf("only %d distinct commands covered", len(covered))
	}
	t.Logf("%d command lines, %d distinct commands checked against COMMAND GETKEYS", len(keyCases), len(covered))
}

// parseStringArray decodes a RESP2 array of bulk strings; an error reply
// comes back as an error.
func parseStringArray(b []byte) ([]string, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line[0] == '-' {
		return nil, fmt.Errorf("%s", line[1:])
	}
	if line[0] != '*' {
		return nil, fmt.Errorf("not an array: %q", b)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		h, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l, err := strconv.Atoi(strings.TrimSuffix(h, "\r\n")[1:])
		if err != nil {
			return nil, err
		}
		buf := make([]byte, l+2)
		if _, err := r.Read(buf); err != nil {
			return nil, err
		}
		out = append(out, string(buf[:l]))
	}
	return out, nil
}

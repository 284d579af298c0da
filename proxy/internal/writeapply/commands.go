package writeapply

// keySpec says where a command's keys are.
type keySpec uint8

const (
	keysFirst keySpec = iota // args[1] only
	keysAll                  // args[1:] (DEL, UNLINK)
	keysPairs                // args[1], args[3], … (MSET, MSETNX)
)

// command is one entry of the table: Redis's lower-case name (used in error
// texts, as Redis uses cmd->fullname), its arity with Redis's convention
// (n: exactly n arguments including the name; -n: at least n), and the
// function that runs it after the arity check.
type command struct {
	name  string
	arity int
	keys  keySpec
	run   func(*exec)
}

func (c *command) arityOK(argc int) bool {
	if c.arity > 0 {
		return argc == c.arity
	}
	return argc >= -c.arity
}

var (
	cmdSet         = command{"set", -3, keysFirst, runSet}
	cmdSetnx       = command{"setnx", 3, keysFirst, runSetnx}
	cmdSetex       = command{"setex", 4, keysFirst, runSetex}
	cmdPsetex      = command{"psetex", 4, keysFirst, runPsetex}
	cmdGetset      = command{"getset", 3, keysFirst, runGetset}
	cmdMset        = command{"mset", -3, keysPairs, runMset}
	cmdMsetnx      = command{"msetnx", -3, keysPairs, runMsetnx}
	cmdIncr        = command{"incr", 2, keysFirst, runIncr}
	cmdDecr        = command{"decr", 2, keysFirst, runDecr}
	cmdIncrby      = command{"incrby", 3, keysFirst, runIncrby}
	cmdDecrby      = command{"decrby", 3, keysFirst, runDecrby}
	cmdIncrbyfloat = command{"incrbyfloat", 3, keysFirst, runIncrbyfloat}
	cmdAppend      = command{"append", 3, keysFirst, runAppend}
	cmdSetrange    = command{"setrange", 4, keysFirst, runSetrange}
	cmdGetdel      = command{"getdel", 2, keysFirst, runGetdel}
	cmdGetex       = command{"getex", -2, keysFirst, runGetex}
	cmdDel         = command{"del", -2, keysAll, runDel}
	cmdUnlink      = command{"unlink", -2, keysAll, runDel}
	cmdExpire      = command{"expire", -3, keysFirst, runExpire}
	cmdPexpire     = command{"pexpire", -3, keysFirst, runPexpire}
	cmdExpireat    = command{"expireat", -3, keysFirst, runExpireat}
	cmdPexpireat   = command{"pexpireat", -3, keysFirst, runPexpireat}
	cmdPersist     = command{"persist", 2, keysFirst, runPersist}
	cmdHset        = command{"hset", -4, keysFirst, runHset}
	cmdHmset       = command{"hmset", -4, keysFirst, runHmset}
	cmdHsetnx      = command{"hsetnx", 4, keysFirst, runHsetnx}
	cmdHdel        = command{"hdel", -3, keysFirst, runHdel}
	cmdHincrby     = command{"hincrby", 4, keysFirst, runHincrby}
	cmdHincrbyfl   = command{"hincrbyfloat", 4, keysFirst, runHincrbyfloat}
)

// lookup finds a command by name, ignoring case, without allocating.
func lookup(name []byte) *command {
	var buf [12]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) {
	case "set":
		return &cmdSet
	case "setnx":
		return &cmdSetnx
	case "setex":
		return &cmdSetex
	case "psetex":
		return &cmdPsetex
	case "getset":
		return &cmdGetset
	case "mset":
		return &cmdMset
	case "msetnx":
		return &cmdMsetnx
	case "incr":
		return &cmdIncr
	case "decr":
		return &cmdDecr
	case "incrby":
		return &cmdIncrby
	case "decrby":
		return &cmdDecrby
	case "incrbyfloat":
		return &cmdIncrbyfloat
	case "append":
		return &cmdAppend
	case "setrange":
		return &cmdSetrange
	case "getdel":
		return &cmdGetdel
	case "getex":
		return &cmdGetex
	case "del":
		return &cmdDel
	case "unlink":
		return &cmdUnlink
	case "expire":
		return &cmdExpire
	case "pexpire":
		return &cmdPexpire
	case "expireat":
		return &cmdExpireat
	case "pexpireat":
		return &cmdPexpireat
	case "persist":
		return &cmdPersist
	case "hset":
		return &cmdHset
	case "hmset":
		return &cmdHmset
	case "hsetnx":
		return &cmdHsetnx
	case "hdel":
		return &cmdHdel
	case "hincrby":
		return &cmdHincrby
	case "hincrbyfloat":
		return &cmdHincrbyfl
	}
	return nil
}

// Modeled reports whether Apply executes the named command (any case).
func Modeled(name []byte) bool { return lookup(name) != nil }

package resp

import (
	"hash/maphash"
	"math"
	"sync"
)

// DefaultShards is NewStore's shard count when given 0.
const DefaultShards = 64

// Store is the key space: N shards, each a map under its own lock, a key's
// shard chosen by its maphash. Values are binary-safe byte strings; the
// store keeps its own copies. Safe for concurrent use.
type Store struct {
	seed   maphash.Seed
	shards []shard
}

type shard struct {
	mu sync.RWMutex
	m  map[string][]byte
	_  [32]byte // keeps neighbouring shards' locks off one cache line
}

// NewStore returns an empty store of n shards (DefaultShards if n <= 0).
func NewStore(n int) *Store {
	if n <= 0 {
		n = DefaultShards
	}
	s := &Store{seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range s.shards {
		s.shards[i].m = map[string][]byte{}
	}
	return s
}

func (s *Store) shard(key []byte) *shard {
	return &s.shards[maphash.Bytes(s.seed, key)%uint64(len(s.shards))]
}

// AppendGet appends key's value as a RESP bulk string to out, or the null
// bulk string "$-1" when there is none.
func (s *Store) AppendGet(out, key []byte) []byte {
	sh := s.shard(key)
	sh.mu.RLock()
	v, ok := sh.m[string(key)]
	if ok {
		out = appendBulk(out, v) // copied under the lock: a SET may reuse v
	}
	sh.mu.RUnlock()
	if !ok {
		out = append(out, "$-1\r\n"...)
	}
	return out
}

// Set stores a copy of val under key.
func (s *Store) Set(key, val []byte) {
	sh := s.shard(key)
	sh.mu.Lock()
	old, ok := sh.m[string(key)]
	if ok && cap(old) >= len(val) && cap(old) <= 2*len(val)+64 {
		sh.m[string(key)] = append(old[:0], val...) // reuse: readers copy under the lock
	} else {
		sh.m[string(key)] = append([]byte(nil), val...)
	}
	sh.mu.Unlock()
}

// Del removes key and reports whether it was there.
func (s *Store) Del(key []byte) bool {
	sh := s.shard(key)
	sh.mu.Lock()
	_, ok := sh.m[string(key)]
	if ok {
		delete(sh.m, string(key))
	}
	sh.mu.Unlock()
	return ok
}

// Exists reports whether key holds a value.
func (s *Store) Exists(key []byte) bool {
	sh := s.shard(key)
	sh.mu.RLock()
	_, ok := sh.m[string(key)]
	sh.mu.RUnlock()
	return ok
}

// Incr adds one to the integer stored at key (0 when there is none) and
// returns the result; nothing changes when the value is not an integer
// (errNotInt) or would overflow (errOverflow).
func (s *Store) Incr(key []byte) (int64, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var n int64
	if old, ok := sh.m[string(key)]; ok {
		var isInt bool
		if n, isInt = parseInt64(old); !isInt {
			return 0, errNotInt
		}
	}
	if n == math.MaxInt64 {
		return 0, errOverflow
	}
	n++
	var b [20]byte
	sh.m[string(key)] = appendInt64(b[:0:0], n)
	return n, nil
}

// Len returns the number of keys.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

package servers

import (
	"sync/atomic"
	"time"
)

// The slow-consumer mode of the backpressure scenario: every accepted TCP
// connection is read by an application slower than its peer, at a fixed
// rate of ConsumeChunk bytes per Config.ConsumePeriod, and what the server
// holds meanwhile (its RSS) is the figure. stdlib reads with blocking reads
// and sleeps; a sockactor-pooled handler sleeps per read; a sockactor-inline
// listener is in pull mode and its handler Recvs ConsumeChunk every period
// (an Inline handler must not block, so it is a pull reader on a timer).
// Neither closes a connection: the peer is to be held back by flow control.

// ModeSlowConsumer reads every accepted connection at the consumer's rate.
const ModeSlowConsumer = "slow-consumer"

// ConsumeChunk is the consumer's bite: the stdlib read buffer, the pull
// reader's Recv size, and the unit of the pooled handler's sleep.
const ConsumeChunk = 64 << 10

// DefaultConsumePeriod is the time a consumer takes per ConsumeChunk when
// Config.ConsumePeriod is 0: 32 MiB/s per connection.
const DefaultConsumePeriod = 2 * time.Millisecond

// consumePeriod returns cfg's consumer period.
func (cfg Config) consumePeriod() time.Duration {
	if cfg.ConsumePeriod > 0 {
		return cfg.ConsumePeriod
	}
	return DefaultConsumePeriod
}

// ConsumerStats is what a Consumer answers to the side channel's consumed
// command.
type ConsumerStats struct {
	// Bytes is every byte the application has taken, all connections.
	Bytes int64 `json:"bytes"`
	// Conns counts the connections accepted.
	Conns int64 `json:"conns"`
	// Closed counts connections the server ended itself, or lost to a
	// reset or a limit, before their peer closed them: the backpressure
	// scenario wants none.
	Closed int64 `json:"closed"`
}

// Consumer is a server in slow-consumer mode: its application's counters.
type Consumer interface {
	ConsumerStats() ConsumerStats
}

// consumerCounts are a slow consumer's counters, safe for concurrent use.
type consumerCounts struct {
	bytes, conns, closed atomic.Int64
}

func (c *consumerCounts) stats() ConsumerStats {
	return ConsumerStats{Bytes: c.bytes.Load(), Conns: c.conns.Load(), Closed: c.closed.Load()}
}

// pacerSlack is how far behind its schedule a consumer may fall and still
// catch up: sleeps and timers that overrun are made up, so the average
// rate is the consumer's, not a sleep's; further behind, the peer was the
// slower one, and the schedule starts again rather than catch up in a long
// burst.
const pacerSlack = 100 * time.Millisecond

// pacer keeps one consumer at ConsumeChunk bytes per period, by the clock:
// after taking n more bytes it says how long to wait until a consumer at
// that rate would have taken them. One goroutine at a time.
type pacer struct {
	period time.Duration
	start  time.Time
	taken  int64
}

// after accounts n bytes taken now and returns the wait before the next.
func (p *pacer) after(n int) time.Duration {
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	p.taken += int64(n)
	due := p.start.Add(time.Duration(p.taken * int64(p.period) / ConsumeChunk))
	if wait := due.Sub(now); wait > -pacerSlack {
		return max(wait, 0)
	}
	p.start, p.taken = now, 0
	return 0
}

package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Registration keeps one gateway registered in etcd: its key (Prefix +
// Member.Address) holds the Member, attached to a lease of Config.TTL that
// a goroutine of the Registration keeps alive. When the lease is lost (etcd
// unreachable for longer than the TTL, or the process hung past it) the
// key is written again under a new lease as soon as etcd answers; the node
// itself is never stopped by etcd. SetListeners changes the Member's
// listeners while it runs: the key is written again under the same lease.
// Close revokes the lease at once.
//
// A Registration owns its etcd client and its goroutine, which alone makes
// etcd requests (Close's revoke aside). Its methods are safe for
// concurrent use.
type Registration struct {
	cfg   Config
	key   string // Prefix + Member.Address: the address never changes
	cli   *clientv3.Client
	ready func(context.Context) error

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	changed chan struct{} // capacity 1: SetListeners changed value; run writes it

	mu         sync.Mutex
	member     Member           // the current Member; its Listeners are never shared
	value      string           // member encoded: what the key must hold
	written    string           // the value last written under lease (by register or rewrite)
	lease      clientv3.LeaseID // the lease being kept, 0 if none
	registered chan struct{}    // closed while the key is written under lease; replaced when lost
	regs       uint64           // how many times the key was written under a new lease
	closeOnce  sync.Once
	closeErr   error
}

// Register starts keeping m registered under cfg and returns at once: no
// etcd request is made on the caller's goroutine. Watchers send their
// snapshot requests to NodeActorName(m.Incarnation) at m.Address: a runtime
// with Options.Fleet registers its node actor there (and calls Register
// itself); any other registrant must answer there as a node actor does.
//
// ready, if not nil, is called (again, after a pause, until it returns
// nil) before the first write: a runtime passes a request to its node
// actor, so a gateway is visible only once it answers. Close ends it.
//
// Errors: ErrConfig for a bad cfg or a Member without Address or
// Incarnation.
func Register(cfg Config, m Member, ready func(context.Context) error) (*Registration, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m.Address == "" || m.Incarnation == "" {
		return nil, fmt.Errorf("%w: Member needs Address and Incarnation", ErrConfig)
	}
	value, err := m.encode()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cli, err := cfg.client()
	if err != nil {
		return nil, err
	}
	m.Listeners = cloneListeners(m.Listeners)
	r := &Registration{cfg: cfg, key: Key(cfg.prefix(), m.Address), member: m, value: value, cli: cli, ready: ready,
		done: make(chan struct{}), changed: make(chan struct{}, 1), registered: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// Member returns the current Member: the one registered, with the
// listeners of the last SetListeners (written to etcd, or about to be).
// The copy is the caller's. Safe for concurrent use.
func (r *Registration) Member() Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.member
	m.Listeners = cloneListeners(m.Listeners)
	return m
}

// Key returns the registration's etcd key. Safe for concurrent use.
func (r *Registration) Key() string { return r.key }

// SetListeners replaces the Member's listeners with a copy of ls and
// returns at once: no etcd request is made on the caller's goroutine. The
// registration's goroutine writes the key again under the lease it holds
// (watchers report CHANGE), retrying while etcd does not answer; while it
// holds none (before the first registration, or after a lost lease) the
// next registration writes the new Member. Listeners equal to the current
// ones change nothing; calls in quick succession may be written as one,
// the last. Errors: ErrClosed once Close was called (nothing changes
// then). Safe for concurrent use.
func (r *Registration) SetListeners(ls []Listener) error {
	if r.ctx.Err() != nil {
		return ErrClosed
	}
	ls = cloneListeners(ls)
	r.mu.Lock()
	if slices.Equal(ls, r.member.Listeners) {
		r.mu.Unlock()
		return nil
	}
	m := r.member
	m.Listeners = ls
	value, err := m.encode()
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r.member, r.value = m, value
	r.mu.Unlock()
	select { // one signal pending is enough: run writes the value current then
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

// Wait waits until the key is written under a live lease. Errors:
// ctx.Err(), ErrClosed once closed.
func (r *Registration) Wait(ctx context.Context) error {
	for {
		r.mu.Lock()
		reg := r.registered
		r.mu.Unlock()
		select {
		case <-reg:
			return nil
		case <-r.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		select {
		case <-reg:
			return nil
		case <-r.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // a lost registration replaced the channel
		}
	}
}

// Registrations returns how many times the key was written under a new
// lease (1 after the first registration; each loss of the lease adds one
// once written again); SetListeners' rewrites under the same lease are not
// counted. Safe for concurrent use.
func (r *Registration) Registrations() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.regs
}

// Close stops keeping the lease alive and revokes it, so watchers see the
// gateway leave at once; the etcd client is closed. The revoke is bounded
// by ctx and by Config.RequestTimeout; if it fails the key goes when the
// TTL runs out and Close returns an error wrapping ErrRevoke. Idempotent:
// later calls return the first call's result.
func (r *Registration) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		r.mu.Lock()
		lease := r.lease
		r.lease = 0
		r.mu.Unlock()
		if lease != 0 {
			rctx, cancel := context.WithTimeout(ctx, r.cfg.requestTimeout())
			_, err := r.cli.Revoke(rctx, lease)
			cancel()
			if err != nil {
				r.closeErr = fmt.Errorf("%w: %w", ErrRevoke, err)
			}
		}
		if err := r.cli.Close(); err != nil && !errors.Is(err, context.Canceled) && r.closeErr == nil {
			r.closeErr = err
		}
	})
	return r.closeErr
}

// pause waits d or until the registration is closed; false when closed.
func (r *Registration) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// run is the registration's goroutine: ready, then grant, put and keep
// alive (writing the key again when SetListeners changed it), again
// whenever the lease is lost, until Close.
func (r *Registration) run() {
	defer close(r.done)
	log := r.cfg.logger().With("fleet_key", r.key)
	wait := regRetryMin
	for r.ready != nil {
		ctx, cancel := context.WithTimeout(r.ctx, r.cfg.requestTimeout())
		err := r.ready(ctx)
		cancel()
		if err == nil {
			break
		}
		if !r.pause(wait) {
			return
		}
		wait = backoff(wait)
	}
	wait = regRetryMin
	for r.ctx.Err() == nil {
		lease, ka, err := r.register()
		if err != nil {
			log.Debug("fleet: registration failed; trying again", "err", err, "in", wait)
			if !r.pause(wait) {
				return
			}
			wait = backoff(wait)
			continue
		}
		wait = regRetryMin
		r.keep(lease, ka, log) // until the lease is lost, or Close
		r.mu.Lock()
		lost := r.lease
		r.lease = 0
		r.registered = make(chan struct{})
		r.mu.Unlock()
		if r.ctx.Err() != nil {
			r.mu.Lock()
			r.lease = lost // Close revokes it
			r.mu.Unlock()
			return
		}
		log.Info("fleet: lease lost; registering again", "lease", int64(lost))
	}
}

// The registration's retries (a registration, a rewrite): regRetryMin,
// doubling to regRetryMax.
const (
	regRetryMin = 50 * time.Millisecond
	regRetryMax = 2 * time.Second
)

func backoff(d time.Duration) time.Duration { return min(2*d, regRetryMax) }

// keep follows the lease registered until it is lost (ka closes: no
// keep-alive answered within the TTL) or Close: it consumes the keep-alive
// answers, and writes the key again under the lease whenever SetListeners
// changed the value. A write etcd refuses because the lease is gone ends
// keep at once (run registers again, with the value current then); any
// other failure (etcd away) is tried again, regRetryMin doubling to
// regRetryMax, with the value current then; a change meanwhile waits for
// that retry.
func (r *Registration) keep(lease clientv3.LeaseID, ka <-chan *clientv3.LeaseKeepAliveResponse, log *slog.Logger) {
	var retry <-chan time.Time // nil unless a failed write waits
	wait := regRetryMin
	for {
		select {
		case _, ok := <-ka:
			if !ok {
				return
			}
			continue
		case <-r.ctx.Done():
			return
		case <-r.changed:
			if retry != nil {
				continue
			}
		case <-retry:
			retry = nil
		}
		if err := r.rewrite(lease); errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return // expired or revoked: lost now, not at the next keep-alive
		} else if err != nil {
			log.Debug("fleet: rewriting the key failed; trying again", "err", err, "in", wait)
			retry = time.After(wait)
			wait = backoff(wait)
			continue
		}
		wait = regRetryMin
	}
}

// rewrite writes the current value under lease, unless it is the value
// written last.
func (r *Registration) rewrite(lease clientv3.LeaseID) error {
	r.mu.Lock()
	value, written := r.value, r.written
	r.mu.Unlock()
	if value == written {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.requestTimeout())
	defer cancel()
	if _, err := r.cli.Put(ctx, r.key, value, clientv3.WithLease(lease)); err != nil {
		return err
	}
	r.mu.Lock()
	r.written = value
	r.mu.Unlock()
	return nil
}

// register grants a lease, writes the key under it (the current value:
// one SetListeners made while no lease was held is written here) and
// starts keeping it alive.
func (r *Registration) register() (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.requestTimeout())
	defer cancel()
	ttl := int64((r.cfg.ttl() + time.Second - 1) / time.Second)
	g, err := r.cli.Grant(ctx, ttl)
	if err != nil {
		return 0, nil, err
	}
	r.mu.Lock()
	r.lease = g.ID // from here on Close revokes it
	value := r.value
	r.mu.Unlock()
	if _, err := r.cli.Put(ctx, r.key, value, clientv3.WithLease(g.ID)); err != nil {
		r.dropLease(g.ID)
		return 0, nil, err
	}
	ka, err := r.cli.KeepAlive(r.ctx, g.ID)
	if err != nil {
		r.dropLease(g.ID)
		return 0, nil, err
	}
	r.mu.Lock()
	r.regs++
	r.written = value
	close(r.registered)
	r.mu.Unlock()
	return g.ID, ka, nil
}

// dropLease revokes a lease whose key could not be written (best effort:
// it expires anyway).
func (r *Registration) dropLease(id clientv3.LeaseID) {
	r.mu.Lock()
	if r.lease == id {
		r.lease = 0
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.requestTimeout())
	defer cancel()
	_, _ = r.cli.Revoke(ctx, id)
}

package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Registration keeps one gateway registered in etcd: its key (Prefix +
// Member.Address) holds the Member, attached to a lease of Config.TTL that
// a goroutine of the Registration keeps alive. When the lease is lost (etcd
// unreachable for longer than the TTL, or the process hung past it) the
// key is written again under a new lease as soon as etcd answers; the node
// itself is never stopped by etcd. Close revokes the lease at once.
//
// A Registration owns its etcd client and its goroutine. Its methods are
// safe for concurrent use.
type Registration struct {
	cfg    Config
	member Member
	value  string
	cli    *clientv3.Client
	ready  func(context.Context) error

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	lease      clientv3.LeaseID // the lease being kept, 0 if none
	registered chan struct{}    // closed while the key is written under lease; replaced when lost
	regs       uint64           // how many times the key was written
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
	r := &Registration{cfg: cfg, member: m, value: value, cli: cli, ready: ready,
		done: make(chan struct{}), registered: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// Member returns the registered Member.
func (r *Registration) Member() Member { return r.member }

// Key returns the registration's etcd key.
func (r *Registration) Key() string { return Key(r.cfg.prefix(), r.member.Address) }

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

// Registrations returns how many times the key was written (1 after the
// first registration; each loss of the lease adds one once written again).
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
// alive, again whenever the lease is lost, until Close.
func (r *Registration) run() {
	defer close(r.done)
	log := r.cfg.logger().With("fleet_key", r.Key())
	backoff := func(d time.Duration) time.Duration { return min(2*d, 2*time.Second) }
	wait := 50 * time.Millisecond
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
	wait = 50 * time.Millisecond
	for r.ctx.Err() == nil {
		ka, err := r.register()
		if err != nil {
			log.Debug("fleet: registration failed; trying again", "err", err, "in", wait)
			if !r.pause(wait) {
				return
			}
			wait = backoff(wait)
			continue
		}
		wait = 50 * time.Millisecond
		for range ka { // each keep-alive answer; closed when the lease is lost, or by Close
		}
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

// register grants a lease, writes the key under it and starts keeping it
// alive.
func (r *Registration) register() (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.requestTimeout())
	defer cancel()
	ttl := int64((r.cfg.ttl() + time.Second - 1) / time.Second)
	g, err := r.cli.Grant(ctx, ttl)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.lease = g.ID // from here on Close revokes it
	r.mu.Unlock()
	if _, err := r.cli.Put(ctx, r.Key(), r.value, clientv3.WithLease(g.ID)); err != nil {
		r.dropLease(g.ID)
		return nil, err
	}
	ka, err := r.cli.KeepAlive(r.ctx, g.ID)
	if err != nil {
		r.dropLease(g.ID)
		return nil, err
	}
	r.mu.Lock()
	r.regs++
	close(r.registered)
	r.mu.Unlock()
	return ka, nil
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

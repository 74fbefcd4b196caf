package actors

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// nopProcess is an actor.Process that does nothing.
type nopProcess struct{}

func (nopProcess) SendUserMessage(*actor.PID, any)   {}
func (nopProcess) SendSystemMessage(*actor.PID, any) {}
func (nopProcess) Stop(*actor.PID)                   {}

// TestRegistryDirectWrite: a process written straight into the registry's
// bucket (protoactorinternal.go) is what ProcessRegistry.Get finds for its
// PID, and is gone once unregistered. It fails if protoactor's registry
// layout changes.
func TestRegistryDirectWrite(t *testing.T) {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	h := &host{system: system}
	const key = "sock/direct-write-test"
	p := &nopProcess{}
	h.register(p, key)
	pid := actor.NewPID(system.Address(), key)
	got, ok := system.ProcessRegistry.Get(pid)
	if !ok || got != actor.Process(p) {
		t.Fatalf("Get after a direct registry write = %T, %v: protoactor's registry layout changed (see protoactorinternal.go)", got, ok)
	}
	h.unregister(key)
	if got, ok := system.ProcessRegistry.Get(pid); ok && got == actor.Process(p) {
		t.Fatal("the process is still registered after unregister")
	}
}

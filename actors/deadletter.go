package actors

import "github.com/asynkron/protoactor-go/actor"

// A request that reaches a released socket ends in protoactor's dead-letter
// process, which answers it (the Caller turns that into WSAENOTSOCK) and, by
// default, logs it at INFO. That is an ordinary outcome for a socket, not
// an anomaly: the socket messages therefore implement protoactor's
// actor.IgnoreDeadLetterLogging, and protoactor does not log them, whatever
// logger the actor system has.

// IgnoreDeadLetterLogging marks Send as not logged by protoactor as a dead letter.
func (*Send) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks Recv as not logged by protoactor as a dead letter.
func (*Recv) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks RecvDisconnect as not logged by protoactor as a dead letter.
func (*RecvDisconnect) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks SendDisconnect as not logged by protoactor as a dead letter.
func (*SendDisconnect) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks Close as not logged by protoactor as a dead letter.
func (*Close) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks Abort as not logged by protoactor as a dead letter.
func (*Abort) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks Subscribe as not logged by protoactor as a dead letter.
func (*Subscribe) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks Unsubscribe as not logged by protoactor as a dead letter.
func (*Unsubscribe) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks Info as not logged by protoactor as a dead letter.
func (*Info) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks Connect as not logged by protoactor as a dead letter.
func (*Connect) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks SuspendReading as not logged by protoactor as a dead letter.
func (*SuspendReading) IgnoreDeadLetterLogging() {}

// IgnoreDeadLetterLogging marks ResumeReading as not logged by protoactor as a dead letter.
func (*ResumeReading) IgnoreDeadLetterLogging() {}

// The socket messages are never logged as dead letters.
var (
	_ actor.IgnoreDeadLetterLogging = (*Send)(nil)
	_ actor.IgnoreDeadLetterLogging = (*Recv)(nil)
	_ actor.IgnoreDeadLetterLogging = (*RecvDisconnect)(nil)
	_ actor.IgnoreDeadLetterLogging = (*SendDisconnect)(nil)
	_ actor.IgnoreDeadLetterLogging = (*Close)(nil)
	_ actor.IgnoreDeadLetterLogging = (*Abort)(nil)
	_ actor.IgnoreDeadLetterLogging = (*Subscribe)(nil)
	_ actor.IgnoreDeadLetterLogging = (*Unsubscribe)(nil)
	_ actor.IgnoreDeadLetterLogging = (*Info)(nil)
	_ actor.IgnoreDeadLetterLogging = (*Connect)(nil)
	_ actor.IgnoreDeadLetterLogging = (*SuspendReading)(nil)
	_ actor.IgnoreDeadLetterLogging = (*ResumeReading)(nil)
)

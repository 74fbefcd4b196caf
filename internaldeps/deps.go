package deps

import (
	_ "github.com/asynkron/protoactor-go/actor"
	_ "github.com/panjf2000/gnet/v2"
	_ "go.uber.org/goleak"
	_ "google.golang.org/protobuf/proto"
)

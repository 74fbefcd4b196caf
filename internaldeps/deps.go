package deps
import (
 _ "github.com/panjf2000/gnet/v2"
 _ "github.com/asynkron/protoactor-go/actor"
 _ "go.uber.org/goleak"
 _ "google.golang.org/protobuf/proto"
)

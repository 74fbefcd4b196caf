// Command bench is the load-testing and benchmark harness of sockactor.
//
// Run with no flags it is the project's showcase: in about a minute and a
// half of runs on two cores it compares five echo servers — raw gnet (the
// baseline of every ratio), a goroutine-per-connection net server, a
// hand-wired "naive" actor-per-connection server, and sockactor with inline
// and with pooled dispatch — on the scenarios its targets judge, and prints
// a table. Raw gnet and the sockactor servers are also compared over UDP
// (datagram echo, and UDP peers that appear and time out); -suite full adds
// unix sockets, event fan-out, remote nodes, hostile peers,
// back-pressure, the RESP, HTTP and TLS servers, and a fleet (membership
// detection and FD_CLOSE from gateways to a fleet watcher through etcd):
//
//	go run ./bench
//	go run ./bench -suite full
//	go run ./bench -scenarios fleet
//	go run ./bench -servers gnet,stdlib -scenarios echo -conns 64,1000 -duration 3s
//	go run ./bench -target 127.0.0.1:9000 -target-pid 1234
//	go run ./bench -scenarios udp,unix,udpchurn,idle
//
// Every server runs in its own process, and so does the load generator: the
// harness re-executes its own binary with a hidden role flag
// (-role server ... or -role loadgen ...; the fleet scenario adds -role etcd
// and -role fleetwatch). A server prints
// "listening host:port" as its first line on stdout and exits on SIGTERM or
// when its standard input closes; a load generator prints its result as one
// JSON line. Runs are interleaved server by server within each round,
// repeated for several rounds, and reported as the median with min–max and
// as the ratio to raw gnet paired round by round, so that drift of the
// machine cancels out. The headline figure is the server's CPU time per
// echoed message, read from /proc/PID/stat around the measured window.
//
// Results (latest.json, latest.md and the chart latest.svg) are written to
// a directory under the system's temporary directory, outside the
// repository, or to the directory -out names. See bench/README.md for the
// scenarios, how to read the ratios and the targets.
package main

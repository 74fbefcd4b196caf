// Command bench is the load-testing and benchmark harness of sockactor.
//
// Run with no flags it is the project's showcase: in about a minute and a
// half on two cores it compares five echo servers — raw gnet (the baseline
// of every ratio), a goroutine-per-connection net server, a hand-wired
// "naive" actor-per-connection server, and sockactor with inline and with
// pooled dispatch — and prints a table. Raw gnet and the sockactor servers
// are also compared over UDP (datagram echo, and UDP peers that appear and
// time out) and over unix sockets:
//
//	go run ./bench
//	go run ./bench -suite full
//	go run ./bench -servers gnet,stdlib -scenarios echo -conns 64,1000 -duration 3s
//	go run ./bench -target 127.0.0.1:9000 -target-pid 1234
//	go run ./bench -scenarios udp,unix,udpchurn,idle
//
// Every server runs in its own process, and so does the load generator: the
// harness re-executes its own binary with a hidden role flag
// (-role server ... or -role loadgen ...). A server prints
// "listening host:port" as its first line on stdout and exits on SIGTERM or
// when its standard input closes; a load generator prints its result as one
// JSON line. Runs are interleaved server by server within each round,
// repeated for several rounds, and reported as the median with min–max and
// as the ratio to raw gnet paired round by round, so that drift of the
// machine cancels out. The headline figure is the server's CPU time per
// echoed message, read from /proc/PID/stat around the measured window.
//
// Results are written to bench/results (latest.json, latest.md and the
// chart latest.svg). See bench/README.md for the scenarios, how to read the
// ratios and the targets.
package main

// ntp-pool lab: TCP → unix-socket forwarder, run inside one of the lab's network namespaces
// (`ip netns exec <ns> node forward.cjs <address> <port> <socket>`). It lets clients in that
// namespace reach a server that listens only on a unix socket in the run directory, so that
// nothing binds a port in the host's network namespace. Plain CommonJS: starts in ~50 ms.
"use strict";
const net = require("node:net");
const [address, port, socketPath] = process.argv.slice(2);
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.pipe(upstream).pipe(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", end);
  upstream.on("error", end);
});
server.listen(Number(port), address, () => {
  process.stdout.write("LISTENING\n");
});
server.on("error", (e) => {
  process.stderr.write(`forward ${address}:${port}: ${e.message}\n`);
  process.exit(1);
});

// The example from corral's README: an HTTP server that says which process
// answered. Run it with `corral start examples/hello.js -i max`: every
// instance listens on the same port and the kernel spreads the connections.
const http = require('http');

const port = Number(process.env.PORT) || 3000;
const instance = process.env.NODE_APP_INSTANCE || '0';

const server = http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end(`hello from pid ${process.pid} (instance ${instance})\n`);
});

server.listen(port, () => {
  console.log(`instance ${instance} (pid ${process.pid}) listening on port ${port}`);
});

// A graceful stop: finish what is in flight, then exit.
function shutdown() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGINT', shutdown);
process.on('message', (msg) => { if (msg === 'shutdown') shutdown(); });

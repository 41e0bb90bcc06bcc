// Test app for cluster mode: an HTTP server that answers every request with
// "pid=<pid> instance=<NODE_APP_INSTANCE> incr=<$INCR>" and closes the
// connection. It listens on $PORT: on $HOST when set, else on Node's default
// dual-stack [::]; $IPV6ONLY: [::] with ipv6Only. $PORT2 adds a second
// server on 127.0.0.1:$PORT2. Graceful: SIGINT or the 'shutdown' message
// close the server and exit once in-flight requests are done. With
// $SEND_READY it calls process.send('ready') once listening (and
// $READY_DELAY_MS later). $GROW_MB: hold that many MB from the start, once
// per instance (a marker file per NODE_APP_INSTANCE in $GROW_MARK).
// $LOG_REQUESTS: print "req <path> pid=<pid>" for each request before
// answering it (one write per line).
const http = require('http');
const fs = require('fs');
const path = require('path');

if (process.env.GROW_MB) {
  const mark = path.join(process.env.GROW_MARK, `grew-${process.env.NODE_APP_INSTANCE}`);
  if (!fs.existsSync(mark)) {
    fs.writeFileSync(mark, String(process.pid));
    globalThis.ballast = Buffer.alloc(Number(process.env.GROW_MB) * 1024 * 1024, 1);
  }
}

const port = Number(process.env.PORT);
const server = http.createServer((req, res) => {
  if (process.env.LOG_REQUESTS)
    console.log(`req ${req.url} pid=${process.pid}`);
  res.setHeader('Connection', 'close');
  res.end(`pid=${process.pid} instance=${process.env.NODE_APP_INSTANCE} ` +
          `incr=${process.env.INCR || ''}\n`);
});

function shutdown(why) {
  console.log(`pid ${process.pid} shutting down (${why})`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('message', (msg) => { if (msg === 'shutdown') shutdown('message'); });

const onListening = () => {
  console.log(`pid ${process.pid} listening on ${port}`);
  if (process.env.SEND_READY && process.send)
    setTimeout(() => process.send('ready'), Number(process.env.READY_DELAY_MS || 0));
};
if (process.env.IPV6ONLY) server.listen({port, host: '::', ipv6Only: true}, onListening);
else if (process.env.HOST) server.listen(port, process.env.HOST, onListening);
else server.listen(port, onListening);

// $PORT2: a second server on another port (share_ports tests).
if (process.env.PORT2) {
  const second = http.createServer((req, res) => res.end(`second pid=${process.pid}\n`));
  second.listen(Number(process.env.PORT2), '127.0.0.1');
}

"""Test app: an HTTP server that tells corral it is ready with the sd_notify
protocol (READY=1 and STATUS= sent to $NOTIFY_SOCKET), only after it has
bound its port and after $READY_DELAY_MS. Answers with its pid."""
import http.server
import os
import socket
import sys
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"pid={os.getpid()} instance={os.environ.get('NODE_APP_INSTANCE')}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def notify(msg):
    path = os.environ["NOTIFY_SOCKET"]
    if path.startswith("@"):  # an abstract socket, as in sd_notify(3)
        path = "\0" + path[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.encode(), path)
    s.close()


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
print(f"pid {os.getpid()} bound", flush=True)
time.sleep(int(os.environ.get("READY_DELAY_MS", "0")) / 1000)
if not os.environ.get("NEVER_READY"):
    notify("READY=1\nSTATUS=serving on port " + os.environ["PORT"])
    print("sent READY=1", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    threading.Event().wait()
except KeyboardInterrupt:
    sys.exit(0)

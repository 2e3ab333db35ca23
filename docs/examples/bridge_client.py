#!/usr/bin/env python3
"""A bridge client written the way course students write them, with three
deliberate mistakes, so that `chat-check client bridge` has something to catch.

    python3 docs/examples/bridge_client.py --id=Alice --port=3000 --server=127.0.0.1:5555
    chat-check client bridge --handout-only -- python3 docs/examples/bridge_client.py \
        --id={id} --port={peer_port} --server={host}:{port}

The mistakes:

1. An empty line typed in a chat is sent as a CHAT with an empty Message.
2. `/quit` in a chat closes the socket without sending QUIT to the peer.
3. A received QUIT prints "<peer> has left the chat." before exiting,
   where the handout's Bob exits with nothing more on his terminal.
"""
import os
import signal
import socket
import sys
import threading


def on_ctrl_c(then):
    """Runs `then` on Ctrl-C. SIGINT is blocked in every thread (call this
    before starting any) and taken by one thread that waits for it. With
    KeyboardInterrupt instead, a Ctrl-C that lands just before the main
    thread blocks in its stdin read is lost, and the client ignores it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def wait():
        signal.sigwait({signal.SIGINT})
        then()

    threading.Thread(target=wait, daemon=True).start()


lock = threading.Lock()
state = {"bridged": False, "peer": None, "chat": None}


def out(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def note(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def finish(code):
    sys.stdout.flush()
    os._exit(code)


def block(kind, *headers):
    text = kind + "\r\n"
    for name, value in headers:
        text += f"{name}: {value}\r\n"
    return (text + "\r\n").encode()


def read_headers(f):
    """Header lines up to the empty one; None if the stream ends first."""
    headers = {}
    while True:
        line = f.readline()
        if not line:
            return None
        line = line.decode(errors="replace").rstrip("\r\n")
        if line == "":
            return headers
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
            headers.setdefault(name.strip().lower(), value)


def ask_server(request):
    """One request on a connection of its own; returns the answer's headers."""
    try:
        sock = socket.create_connection(server)
    except OSError as e:
        out(f"Unable to connect to {server[0]}:{server[1]}")
        note(str(e))
        with lock:
            started = state["bridged"]
        if not started:
            finish(1)
        return None
    try:
        sock.sendall(request)
        f = sock.makefile("rb")
        line = f.readline()
        while line in (b"\r\n", b"\n"):
            line = f.readline()
        headers = read_headers(f) if line else None
        f.close()
    except OSError:
        headers = None
    sock.close()
    if headers is None:
        note(f"The server at {server[0]}:{server[1]} closed the connection without answering")
    return headers


def receive(sock, who):
    peer_id, peer_addr = who
    f = sock.makefile("rb")
    while True:
        try:
            line = f.readline()
        except OSError:
            line = b""
        if not line:
            out(f"Peer {peer_id} at {peer_addr} has disconnected")
            finish(0)
        text = line.decode(errors="replace").rstrip("\r\n")
        if text == "":
            continue
        if text == "QUIT":
            out(f"{peer_id} has left the chat.")  # mistake 3
            finish(0)
        if text != "CHAT":
            out(text)
            continue
        try:
            headers = read_headers(f)
        except OSError:
            headers = None
        if headers is None:
            out(f"Peer {peer_id} at {peer_addr} has disconnected")
            finish(0)
        if headers.get("type", "").lower() == "quit":
            out(f"{peer_id} has left the chat.")  # mistake 3
            finish(0)
        if "message" in headers:
            out(headers["message"])
        else:
            note("Skipped a CHAT without a Message")


def start_chat(sock, who):
    with lock:
        state["chat"] = sock
    threading.Thread(target=receive, args=(sock, who), daemon=True).start()


def take_call(conn):
    conn.settimeout(10)
    try:
        f = conn.makefile("rb")
        first = f.readline()
        headers = read_headers(f) if first.rstrip(b"\r\n") == b"CHAT" else None
    except OSError:
        headers = None
    if headers is None or not headers.get("clientid"):
        conn.close()
        return
    conn.settimeout(None)
    peer_id = headers.get("clientid", "")
    peer_addr = f"{headers.get('ip', '')}:{headers.get('port', '')}"
    with lock:
        ok = state["bridged"] and state["chat"] is None
        if ok:
            state["chat"] = conn
    if not ok:
        note(f"Refused a chat request from {peer_id} {peer_addr}: /bridge first")
        conn.close()
        return
    out(f"Incoming chat request from {peer_id} {peer_addr}")
    start_chat(conn, (peer_id, peer_addr))


def listen(listener):
    while True:
        conn, _ = listener.accept()
        with lock:
            busy = state["chat"] is not None
        if busy:
            conn.close()
            continue
        take_call(conn)


def command(line):
    with lock:
        chat = state["chat"]
    if line == "/id":
        out(my_id)
    elif line == "/register":
        answer = ask_server(block("REGISTER", ("clientID", my_id), ("IP", my_ip), ("Port", my_port)))
        if answer is not None and answer.get("status") != "registered":
            note(f"The server did not register {my_id}: {answer.get('status', '')}")
    elif line == "/bridge":
        answer = ask_server(block("BRIDGE", ("clientID", my_id)))
        if answer is None:
            return
        peer = None
        if answer.get("clientid") and answer.get("ip") and answer.get("port"):
            peer = (answer["clientid"], answer["ip"], int(answer["port"]))
        with lock:
            state["bridged"] = True
            state["peer"] = peer
        if peer:
            note(f"Your peer is {peer[0]} at {peer[1]}:{peer[2]}: /chat calls it (or it may call you)")
        else:
            note("No peer yet: waiting for a peer to call (/bridge asks again)")
    elif line == "/chat":
        with lock:
            peer = state["peer"]
        if chat is not None or peer is None:
            note("/chat: no peer yet: /register, then /bridge to get one")
            return
        try:
            sock = socket.create_connection((peer[1], peer[2]))
        except OSError:
            out(f"Unable to connect to {peer[1]}:{peer[2]}")
            return
        start_chat(sock, (peer[0], f"{peer[1]}:{peer[2]}"))
        sock.sendall(block("CHAT", ("clientID", my_id), ("IP", my_ip), ("Port", my_port)))
    elif line == "/quit":
        if chat is not None:
            chat.close()  # mistake 2: no QUIT sent
        finish(0)
    elif chat is not None:
        # mistake 1: empty lines are sent too
        if len(line.encode()) > 32768:
            note("Message too long: at most 32768 bytes, not sent")
            return
        chat.sendall(block("CHAT", ("clientID", my_id), ("Message", line)))
    elif line.startswith("/"):
        note(f"{line} is not a command (commands: /id, /register, /bridge, /chat, /quit)")
    elif line:
        note("Not in a chat, so this line was not sent: /register, /bridge, then /chat (or wait for a call)")


def option(name):
    for arg in sys.argv[1:]:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    note("usage: bridge_client.py --id=<ID> --port=<PORT> --server=<IP:PORT>")
    sys.exit(2)


def interrupted():
    """Ctrl-C: a chat in progress is told QUIT and closed; the program ends."""
    with lock:
        chat = state["chat"]
    if chat is not None:
        try:
            chat.sendall(b"QUIT\r\n\r\n")
        except OSError:
            pass
        chat.close()
    finish(0)


on_ctrl_c(interrupted)
my_id = option("id")
if not (my_id.isascii() and my_id.isalnum() and len(my_id) <= 32):
    note(f"bad clientID: {my_id}")
    sys.exit(2)
host, _, port = option("server").rpartition(":")
server = (host, int(port))

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("", int(option("port"))))
listener.listen(8)
my_port = listener.getsockname()[1]
# The address that reaches the server; a UDP connect sends nothing.
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.connect(server)
my_ip = probe.getsockname()[0]
probe.close()
out(f"{my_id} running on {my_ip}:{my_port}")
threading.Thread(target=listen, args=(listener,), daemon=True).start()

while True:
    line = sys.stdin.readline()
    if not line:
        break
    command(line.rstrip("\r\n"))
# End of input: an idle client ends; a waiting or chatting one goes on.
with lock:
    goes_on = state["chat"] is not None or (state["bridged"] and state["peer"] is None)
if not goes_on:
    finish(0)
threading.Event().wait()

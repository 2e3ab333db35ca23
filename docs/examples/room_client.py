#!/usr/bin/env python3
"""A room client written the way course students write them, with three
deliberate mistakes, so that `chat-check client room` has something to catch.

    python3 docs/examples/room_client.py localhost 18000
    chat-check client room --handout-only -- python3 docs/examples/room_client.py {host} {port}

It shows the handout's menu, reports, joins, chats, uploads and downloads
attachments and quits. The mistakes:

1. The report numbers the users from 0 (`enumerate` without `start=1`).
2. A received attachment is saved in the folder the client runs in, not in
   its "downloads" folder.
3. After `q` the client prints its own QUIT_ACCEPT ("Fire left the
   chatroom.") before the menu.
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


FLAGS = ["REPORT_REQUEST_FLAG", "REPORT_RESPONSE_FLAG", "JOIN_REQUEST_FLAG",
         "JOIN_REJECT_FLAG", "JOIN_ACCEPT_FLAG", "NEW_USER_FLAG",
         "QUIT_REQUEST_FLAG", "QUIT_ACCEPT_FLAG", "ATTACHMENT_FLAG"]
MENU = ("Please select one of the following options:\n"
        "1. Get a report of the chatroom from the server.\n"
        "2. Request to join the chatroom.\n"
        "3. Quit the program.\n"
        "Your choice: ")
WELCOME = ("The server welcomes you to the chatroom.\n"
           "Type lowercase 'q' and press enter at any time to quit the chatroom.\n"
           "Type lowercase 'a' and press enter at any time to upload an attachment to the chatroom.\n"
           "Here is a history of the chatroom.\n")


def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def message(flag=None, user="", file="", payload=b""):
    head = "".join(f"{f}: {int(f == flag)}\n" for f in FLAGS)
    field = lambda k, v: f"{k}: {v}\n" if v else f"{k}:\n"
    head += "NUMBER: 0\n" + field("USERNAME", user) + field("FILENAME", file)
    head += f"PAYLOAD_LENGTH: {len(payload)}\n" + "TIMESTAMP:\n\n"
    return head.encode() + payload


def read_message(f):
    """One message from the server as a dict, or None when it closed."""
    fields = {}
    while True:
        line = f.readline()
        if not line:
            return None
        line = line.decode(errors="replace").rstrip("\r\n")
        if line == "":
            break
        k, _, v = line.partition(":")
        fields[k] = v[1:] if v.startswith(" ") else v
    n = int(fields.get("PAYLOAD_LENGTH") or 0)
    payload = f.read(n) if n else b""
    if len(payload) < n:
        return None
    fields["flag"] = next((x for x in FLAGS if fields.get(x) == "1"), None)
    fields["payload"] = payload
    return fields


def show(m, text):
    if text.endswith("\n"):
        text = text[:-1]
    if m.get("TIMESTAMP"):
        out(f"[{m['TIMESTAMP']}] {m.get('USERNAME', '')}: {text}\n")
    else:
        out(f"{m.get('USERNAME', '')}: {text}\n")


def receive(f, me, quitted):
    while True:
        m = read_message(f)
        if m is None:
            if quitted.is_set():
                return
            out("Disconnected from server\n")
            os._exit(0)
        flag, payload = m["flag"], m["payload"]
        if flag in ("NEW_USER_FLAG", "QUIT_ACCEPT_FLAG"):
            show({"TIMESTAMP": m.get("TIMESTAMP", ""), "USERNAME": "Server"},
                  payload.decode(errors="replace"))  # mistake 3: my own too
            if flag == "QUIT_ACCEPT_FLAG" and m.get("USERNAME") == me:
                quitted.set()
                return
        elif flag == "ATTACHMENT_FLAG":
            name = os.path.basename(m.get("FILENAME", "").replace("\\", "/")) or "attachment"
            with open(name, "wb") as saved:  # mistake 2: not in downloads/
                saved.write(payload)
            try:
                show(m, payload.decode())
            except UnicodeDecodeError:
                show(m, f"{m['USERNAME']} sent {m['FILENAME']} ({len(payload)} bytes), saved to {name}")
        elif flag is None:
            show(m, payload.decode(errors="replace"))


class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = None
        self.f = None

    def connect(self):
        if self.sock is None:
            try:
                self.sock = socket.create_connection((self.host, self.port), timeout=10)
            except OSError:
                out(f"Unable to connect to {self.host}:{self.port}\n")
                os._exit(1)
            self.sock.settimeout(None)
            self.f = self.sock.makefile("rb")

    def close(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        self.sock = self.f = None

    def ask(self, data):
        self.connect()
        self.sock.sendall(data)
        m = read_message(self.f)
        if m is None:
            out("Disconnected from server\n")
            os._exit(0)
        return m

    def report(self):
        m = self.ask(message("REPORT_REQUEST_FLAG"))
        out(f"There are {m.get('NUMBER', '0')} active users in the chatroom.\n")
        lines = m["payload"].decode(errors="replace").splitlines()
        for i, line in enumerate(lines):  # mistake 1: counts from 0
            name, ip, port = line.split(" ")
            out(f"{i}. {name} at IP: {ip} and port: {port}.\n")

    def join(self):
        name = ""
        while not name:
            out("Please enter a username: ")
            line = sys.stdin.readline()
            if not line:
                os._exit(0)
            name = line.strip()
        m = self.ask(message("JOIN_REQUEST_FLAG", user=name))
        if m["flag"] != "JOIN_ACCEPT_FLAG":
            out(m["payload"].decode(errors="replace") + "\n")
            return
        out(WELCOME + m["payload"].decode(errors="replace"))
        self.chat(name)

    def chat(self, me):
        quitted = threading.Event()
        threading.Thread(target=receive, args=(self.f, me, quitted), daemon=True).start()
        while True:
            line = sys.stdin.readline()
            if not line or line.rstrip("\n") == "q":
                self.sock.sendall(message("QUIT_REQUEST_FLAG"))
                quitted.wait(10)
                quitted.set()
                self.close()
                if not line:
                    os._exit(0)
                return
            line = line.rstrip("\n")
            if line == "a":
                self.upload()
            elif line:
                self.sock.sendall(message(user=me, payload=line.encode()))

    def upload(self):
        out("Please enter the file path and name: ")
        path = sys.stdin.readline().rstrip("\n")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            out(f"Cannot read {path}: {e.strerror}\n")
            return
        self.sock.sendall(message("ATTACHMENT_FLAG", file=path, payload=data))


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "localhost"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 18000
    client = Client(host, port)
    while True:
        out(MENU)
        choice = sys.stdin.readline()
        if not choice or choice.strip() == "3":
            os._exit(0)
        if choice.strip() == "1":
            client.report()
        elif choice.strip() == "2":
            client.join()


if __name__ == "__main__":
    on_ctrl_c(lambda: os._exit(0))
    main()

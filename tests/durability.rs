//! Nothing lost: what the server keeps on disk survives a `kill -9` at any
//! moment whole, never torn. Every test here starts a server of its own
//! and kills it.
//!
//! - bridge: the registry is an append-only log of whole lines, fsynced
//!   before each REGACK; killed in the middle of a stream of registrations,
//!   it holds every acknowledged one, in whole lines, and the next server
//!   reads it back.
//! - room: a history file whose last line was torn by a crash is read back
//!   without that line, and the server starts.
//! - room: an attachment is stored under its name only when complete; a
//!   crash in the middle of an upload leaves nothing under that name.

use std::fs;

use chat_protocol::room::{Kind, Message, MessageDecoder};
use chat_protocol::FrameBuffer;

use crate::util::{Peer, Server, TempDir};

fn register(id: &str, port: u16) -> String {
    format!("REGISTER\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\n\r\n")
}

fn regack(id: &str, port: u16) -> String {
    format!(
        "REGACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\nStatus: registered\r\n\r\n"
    )
}

#[test]
fn bridge_registry_survives_kill_9_during_registrations() {
    let dir = TempDir::new("registry-kill");
    let registry = dir.arg("registry.txt");
    let mut acked: Vec<(String, u16)> = Vec::new();
    let mut in_flight: Vec<(String, u16)> = Vec::new();
    for round in 0..5u16 {
        let server = Server::start(&["bridge", "--port=0", "--registry", &registry]);
        // Registrations and updates of earlier ids, acknowledged one by one;
        // the kill lands while the last ones are in flight.
        for i in 0..20u16 {
            let id = format!("kill{}", i % 7);
            let port = 1000 + round * 100 + i;
            let mut peer = server.connect();
            peer.send(register(&id, port));
            if i == 19 {
                // Killed with this registration unacknowledged.
                in_flight.push((id, port));
                server.signal(9);
                break;
            }
            peer.expect(regack(&id, port));
            acked.retain(|(other, _)| *other != id);
            acked.push((id, port));
        }
        drop(server);
        let text = fs::read_to_string(&registry).expect("the registry is there");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "torn registry {text:?}"
        );
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "torn line {line:?}");
        }
        for (id, port) in &acked {
            let line = format!("{id} 127.0.0.1 {port}");
            // The last line for an id is its contact: the acknowledged one,
            // or a later, unacknowledged update of the same id.
            let last = text.lines().rfind(|l| l.split(' ').next() == Some(id));
            let kept = last.is_some_and(|l| {
                l == line
                    || in_flight
                        .iter()
                        .any(|(i, p)| i == id && l == format!("{i} 127.0.0.1 {p}"))
            });
            assert!(kept, "acknowledged {line:?} lost: {text:?}");
        }
    }
    // The next server reads it back: a BRIDGE from a registered client is
    // answered with the earliest other registered client, not refused as
    // unregistered.
    let server = Server::start(&["bridge", "--port=0", "--registry", &registry]);
    let text = fs::read_to_string(&registry).unwrap();
    let order: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let (asker, peer_id) = (order[0], order[1]);
    let peer_port = text
        .lines()
        .rfind(|l| l.starts_with(&format!("{peer_id} ")))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_owned();
    let mut peer = server.connect();
    peer.send(format!("BRIDGE\r\nclientID: {asker}\r\n\r\n"));
    peer.expect(format!(
        "BRIDGEACK\r\nclientID: {peer_id}\r\nIP: 127.0.0.1\r\nPort: {peer_port}\r\n\r\n"
    ));
}

/// A room client speaking raw header blocks.
struct RoomPeer {
    peer: Peer,
    frames: FrameBuffer<MessageDecoder>,
}

impl RoomPeer {
    fn connect(server: &Server) -> RoomPeer {
        RoomPeer {
            peer: server.connect(),
            frames: FrameBuffer::new(MessageDecoder::new(u64::MAX)),
        }
    }

    fn send(&mut self, message: &Message) {
        self.peer.send(message.to_bytes());
    }

    fn next(&mut self) -> Message {
        loop {
            if let Some(message) = self.frames.next_item().expect("well-formed") {
                return message;
            }
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut self.peer.stream, &mut buf).expect("read");
            assert!(n > 0, "closed");
            self.frames.extend(&buf[..n]);
        }
    }
}

#[test]
fn room_history_with_a_torn_last_line_is_read_back_without_it() {
    let dir = TempDir::new("history-torn");
    let history = dir.join("history.txt");
    fs::write(
        &history,
        "[10:00:00] Server: Ann joined the chatroom.\n[10:00:01] Ann: hello\nthere\n[10:00:02] Ann: cut sho",
    )
    .unwrap();
    let args = [
        "room",
        "0",
        "--history",
        &dir.arg("history.txt"),
        "--downloads",
        &dir.arg("downloads"),
    ];
    let server = Server::start(&args);
    let mut bob = RoomPeer::connect(&server);
    bob.send(&Message::new(Kind::JoinRequest).user("Bob"));
    let accept = bob.next();
    assert_eq!(accept.kind, Kind::JoinAccept);
    assert_eq!(
        String::from_utf8_lossy(&accept.payload),
        "[10:00:00] Server: Ann joined the chatroom.\n[10:00:01] Ann: hello\nthere\n"
    );
    assert_eq!(bob.next().kind, Kind::NewUser);
}

#[test]
fn room_attachment_appears_only_whole() {
    let dir = TempDir::new("attachment-kill");
    let downloads = dir.join("downloads");
    let args = ["room", "0", "--downloads", &dir.arg("downloads")];
    let server = Server::start(&args);
    let mut ann = RoomPeer::connect(&server);
    ann.send(&Message::new(Kind::JoinRequest).user("Ann"));
    assert_eq!(ann.next().kind, Kind::JoinAccept);
    assert_eq!(ann.next().kind, Kind::NewUser);
    // A whole attachment is stored under its name, and nothing else is.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ann.send(
        &Message::new(Kind::Attachment)
            .file("whole.bin")
            .payload(body.clone()),
    );
    let relay = ann.next();
    assert_eq!(
        (relay.kind, relay.filename.as_str()),
        (Kind::Attachment, "whole.bin")
    );
    assert_eq!(fs::read(downloads.join("whole.bin")).unwrap(), body);
    // Half an attachment, then kill -9: nothing under its name.
    let mut half = Message::new(Kind::Attachment)
        .file("half.bin")
        .payload(body)
        .to_bytes();
    half.truncate(half.len() - 100_000);
    ann.peer.send(half);
    // The property holds however much of the half the server has read; a
    // report on another connection gives it the chance to read it all.
    let mut probe = RoomPeer::connect(&server);
    probe.send(&Message::new(Kind::ReportRequest));
    assert_eq!(probe.next().kind, Kind::ReportResponse);
    server.signal(9);
    drop(server);
    let names: Vec<String> = fs::read_dir(&downloads)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["whole.bin"], "only the whole attachment is there");
}

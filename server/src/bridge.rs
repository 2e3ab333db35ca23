//! bridge: the rendezvous server. It keeps a registry of client contacts
//! and pairs clients that ask for a peer; the chats themselves run between
//! the clients and never pass through here.
//!
//! Every change to the registry is on disk (written whole to a temporary
//! file, fsynced, renamed over the registry, directory fsynced) before the
//! REGACK goes out, so an acknowledged registration survives a kill -9.
//! That file I/O runs on the dispatcher thread: a rendezvous server sees a
//! request now and then, and blocking for an fsync is the price of saying
//! "registered" only when it is true. Who is waiting for a peer is kept in
//! memory only.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chat_protocol::bridge::{Contact, Message, MessageDecoder, REGISTERED};

use crate::conns::{ConnId, Conns};
use crate::dispatch::{Dialect, Evictable};
use crate::status;

/// The registered contacts, in order of first registration, and the file
/// that keeps them: one `clientID IP Port` line each.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    contacts: Vec<Contact>,
}

impl Registry {
    /// Reads the registry at `path`; a missing file is an empty registry.
    /// Lines that do not hold a valid contact are skipped with a warning.
    pub fn open(path: &Path) -> io::Result<Registry> {
        let mut registry = Registry {
            path: path.to_owned(),
            contacts: Vec::new(),
        };
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(registry),
            Err(e) => return Err(e),
        };
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let contact = match fields[..] {
                [id, ip, port] => Contact::new(id, ip, port).check().ok(),
                [] => continue,
                _ => None,
            };
            match contact {
                Some(contact) => registry.set(contact),
                None => log::warn!("{}:{}: not a contact, skipped", path.display(), n + 1),
            }
        }
        Ok(registry)
    }

    /// The contact registered under `client_id`.
    pub fn find(&self, client_id: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.client_id == client_id)
    }

    /// Every contact, in order of first registration.
    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// Stores or updates `contact`, on disk first: when writing fails the
    /// registry is unchanged.
    pub fn put(&mut self, contact: Contact) -> io::Result<()> {
        if self.find(&contact.client_id) == Some(&contact) {
            return Ok(());
        }
        let mut next = Registry {
            path: self.path.clone(),
            contacts: self.contacts.clone(),
        };
        next.set(contact);
        next.save()?;
        *self = next;
        Ok(())
    }

    fn set(&mut self, contact: Contact) {
        match self
            .contacts
            .iter_mut()
            .find(|c| c.client_id == contact.client_id)
        {
            Some(old) => *old = contact,
            None => self.contacts.push(contact),
        }
    }

    /// Replaces the file atomically: a reader (or a restart after a crash)
    /// sees the old registry or the new one, never a mix.
    fn save(&self) -> io::Result<()> {
        let mut text = String::new();
        for c in &self.contacts {
            text.push_str(&format!("{} {} {}\n", c.client_id, c.ip, c.port));
        }
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_owned();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        File::open(dir)?.sync_all()
    }
}

/// The bridge server's state: the registry and who waits for a peer.
#[derive(Debug)]
pub struct Bridge {
    registry: Registry,
    /// The clientID of the registered client that asked for a peer when
    /// nobody was waiting; the next other asker is paired with it.
    waiting: Option<String>,
}

impl Bridge {
    /// A server keeping its registry in `path` (read back now).
    pub fn open(path: &Path) -> io::Result<Bridge> {
        Ok(Bridge {
            registry: Registry::open(path)?,
            waiting: None,
        })
    }

    fn register(&mut self, conns: &mut Conns, id: ConnId, carried: Contact) {
        let status = match carried.check() {
            Err(reason) => {
                conns.status(id, format_args!("REGISTER rejected ({reason})"));
                format!("rejected ({reason})")
            }
            Ok(contact) => {
                let (who, ip, port) = (&contact.client_id, &contact.ip, &contact.port);
                let line = format!("REGISTER: {who} from {ip}:{port} received");
                match self.registry.put(contact.clone()) {
                    Ok(()) => {
                        status::print(format_args!("{line}"));
                        REGISTERED.to_owned()
                    }
                    Err(e) => {
                        log::error!("cannot save the registry: {e}");
                        conns.status(id, format_args!("REGISTER {who} rejected: {e}"));
                        "rejected (cannot save the registry)".to_owned()
                    }
                }
            }
        };
        let reply = Message::RegAck {
            contact: carried,
            status,
        };
        conns.reply(id, reply.to_bytes());
    }

    fn bridge(&mut self, conns: &mut Conns, id: ConnId, client_id: &str) {
        let Some(me) = self.registry.find(client_id).cloned() else {
            conns.status(id, format_args!("BRIDGE {client_id:?}: not registered"));
            return conns.reply(id, Message::BridgeAck(Contact::default()).to_bytes());
        };
        let peer = match self.waiting.take() {
            Some(other) if other != me.client_id => self.registry.find(&other).cloned(),
            _ => None,
        };
        let answer = match peer {
            Some(peer) => {
                status::print(format_args!(
                    "BRIDGE: {} {}:{} {} {}:{}",
                    me.client_id, me.ip, me.port, peer.client_id, peer.ip, peer.port
                ));
                peer
            }
            None => {
                conns.status(id, format_args!("BRIDGE {}: waiting", me.client_id));
                self.waiting = Some(me.client_id);
                Contact::default()
            }
        };
        conns.reply(id, Message::BridgeAck(answer).to_bytes());
    }
}

impl Dialect for Bridge {
    type Decoder = MessageDecoder;

    const READS_STDIN: bool = true;

    /// A bridge client makes one request per connection: the slot rule may
    /// cut any connection that is not in the middle of one.
    const EVICTABLE: Evictable = Evictable::BetweenRequests;

    fn decoder(&self) -> MessageDecoder {
        MessageDecoder::default()
    }

    fn request(&mut self, conns: &mut Conns, id: ConnId, request: Message) {
        match request {
            Message::Register(contact) => self.register(conns, id, contact),
            Message::Bridge { client_id } => self.bridge(conns, id, &client_id),
            other => {
                conns.status(id, format_args!("unexpected {}, closing", other.kind()));
                return conns.close(id);
            }
        }
        conns.set_registered(id);
    }

    // Connections carry no state here: a client closes after each answer.
    fn disconnected(&mut self, _conns: &mut Conns, _id: ConnId) {}

    fn stdin(&mut self, _conns: &mut Conns, line: &str) {
        match line.trim() {
            "/info" => {
                for c in self.registry.contacts() {
                    status::print(format_args!("{} {}:{}", c.client_id, c.ip, c.port));
                }
            }
            "" => {}
            other => log::warn!("unknown command {other:?}; the server knows /info"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::testing::Harness;

    /// A registry path in a fresh temporary folder.
    fn registry_path(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chat-server-bridge-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir.join("registry.txt")
    }

    fn register(id: &str, port: &str) -> Message {
        Message::Register(Contact::new(id, "127.0.0.1", port))
    }

    fn bridge(id: &str) -> Message {
        Message::Bridge {
            client_id: id.into(),
        }
    }

    fn ack(id: &str, port: &str) -> String {
        if id.is_empty() {
            return "BRIDGEACK\r\nclientID: \r\nIP: \r\nPort: \r\n\r\n".into();
        }
        format!("BRIDGEACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\n\r\n")
    }

    /// Sends `message` on a fresh connection, as a client does, and returns
    /// the answer.
    fn ask(h: &mut Harness<Bridge>, message: Message) -> String {
        let conn = h.connect();
        h.request(conn, message);
        let answer = h.take(conn);
        h.hang_up(conn);
        answer
    }

    #[test]
    fn register_is_saved_before_the_regack() {
        let path = registry_path("saved");
        let mut h = Harness::new(Bridge::open(&path).unwrap());
        assert_eq!(
            ask(&mut h, register("Alice", "5000")),
            "REGACK\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 5000\r\nStatus: registered\r\n\r\n"
        );
        ask(&mut h, register("Bob", "6000"));
        ask(&mut h, register("Alice", "5001"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "Alice 127.0.0.1 5001\nBob 127.0.0.1 6000\n"
        );
        let again = Registry::open(&path).unwrap();
        assert_eq!(again.contacts(), h.dispatcher.dialect.registry.contacts());
    }

    #[test]
    fn bad_register_echoes_what_it_carried() {
        let mut h = Harness::new(Bridge::open(&registry_path("bad")).unwrap());
        let carried = Contact::new("Al", "", "5000");
        assert_eq!(
            ask(&mut h, Message::Register(carried)),
            "REGACK\r\nclientID: Al\r\nIP: \r\nPort: 5000\r\nStatus: rejected (missing IP)\r\n\r\n"
        );
        assert!(h.dispatcher.dialect.registry.contacts().is_empty());
    }

    #[test]
    fn pairs_in_order() {
        let mut h = Harness::new(Bridge::open(&registry_path("pairs")).unwrap());
        assert_eq!(ask(&mut h, bridge("Nobody")), ack("", ""));
        for (id, port) in [("A", "1"), ("B", "2"), ("C", "3"), ("D", "4")] {
            ask(&mut h, register(id, port));
        }
        assert_eq!(ask(&mut h, bridge("A")), ack("", ""));
        assert_eq!(ask(&mut h, bridge("A")), ack("", ""));
        assert_eq!(ask(&mut h, bridge("B")), ack("A", "1"));
        assert_eq!(ask(&mut h, bridge("C")), ack("", ""));
        assert_eq!(ask(&mut h, bridge("D")), ack("C", "3"));
        assert_eq!(ask(&mut h, bridge("D")), ack("", ""));
    }

    #[test]
    fn other_messages_close_the_connection() {
        let mut h = Harness::new(Bridge::open(&registry_path("other")).unwrap());
        let conn = h.connect();
        h.request(conn, Message::Quit);
        assert_eq!(h.take(conn), "");
        assert!(h.is_closed(conn));
    }

    #[test]
    fn a_registry_that_cannot_be_written_rejects() {
        let path = registry_path("unwritable")
            .join("missing-dir")
            .join("r.txt");
        let mut h = Harness::new(Bridge::open(&path).unwrap());
        assert_eq!(
            ask(&mut h, register("Al", "5")),
            "REGACK\r\nclientID: Al\r\nIP: 127.0.0.1\r\nPort: 5\r\n\
             Status: rejected (cannot save the registry)\r\n\r\n"
        );
        assert_eq!(ask(&mut h, bridge("Al")), ack("", ""));
    }

    #[test]
    fn bad_registry_lines_are_skipped() {
        let path = registry_path("lines");
        fs::write(&path, "Al 127.0.0.1 5\n\ngarbage\nBo ::1 6\nCy 1.2.3.4 0\n").unwrap();
        let registry = Registry::open(&path).unwrap();
        assert_eq!(
            registry.contacts(),
            &[
                Contact::new("Al", "127.0.0.1", "5"),
                Contact::new("Bo", "::1", "6")
            ]
        );
    }
}

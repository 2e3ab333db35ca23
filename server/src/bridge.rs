//! bridge: the rendezvous server. It keeps a registry of client contacts
//! and pairs clients that ask for a peer; the chats themselves run between
//! the clients and never pass through here.
//!
//! The registry file is an append-only log of `clientID IP Port` lines: a
//! REGISTER that adds or changes a contact appends one line and fsyncs it
//! before the REGACK goes out, so an acknowledged registration survives a
//! kill -9 and costs the same however many clients are registered. A
//! changed contact is appended as a new line for the same clientID; on
//! reading, a later line for an id updates the contact and the first one
//! keeps its place, so the file always reads as "in order of first
//! registration". When the log holds many more lines than there are
//! contacts it is compacted: written whole to a temporary file, fsynced,
//! renamed over the registry, directory fsynced (a crash leaves the old log
//! or the new file, never a mix). That happens at most once per as many
//! REGISTERs as the registry has entries, so its cost per REGISTER stays
//! constant on average. Lines that do not hold a contact (a hand edit, bytes
//! that are not UTF-8) are skipped with a warning and kept as they are, in
//! their place, whenever the file is written whole.
//!
//! Who is waiting for a peer and who is paired with whom is kept in memory
//! only.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chat_protocol::bridge::{Contact, Message, MessageDecoder, REGISTERED};
use chat_protocol::safe;

use crate::conns::{ConnId, Conns};
use crate::disk::Disk;
use crate::dispatch::{Dialect, Evictable};
use crate::status;

/// The REGACK status of a new id when `--max-contacts` are registered.
const REGISTRY_FULL: &str = "rejected (registry full)";

/// The log is compacted when it has this many lines more than twice the
/// lines a compact file would have.
const COMPACT_SLACK: usize = 1024;

/// One line of the registry as it will be written whole.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// The contact at this index of [`Registry::contacts`].
    Contact(usize),
    /// A line that holds no contact, kept byte for byte (no line end).
    Kept(Vec<u8>),
}

/// The registered contacts, in order of first registration, and the log
/// file that keeps them.
///
/// The contacts live on the dispatcher; the file is written by the disk
/// thread (its [`RegistryFile`] is behind a mutex that only the thread
/// running disk jobs takes).
#[derive(Debug)]
pub struct Registry {
    contacts: Vec<Contact>,
    /// Where each clientID is in `contacts`.
    index: HashMap<String, usize>,
    /// What a compacted file holds, in order.
    lines: Vec<Line>,
    file: Arc<Mutex<RegistryFile>>,
    /// The log's length in lines, as this server wrote or read it.
    file_lines: usize,
    compact_slack: usize,
}

/// The registry's log file, as the disk thread writes it.
#[derive(Debug)]
pub struct RegistryFile {
    path: PathBuf,
    /// The log open for appending; opened at the first append.
    file: Option<File>,
    /// The log's length in bytes, as this server wrote or read it.
    len: u64,
    /// The file's last line has no line end (a hand edit): the next append
    /// starts with one.
    needs_lf: bool,
}

impl Registry {
    /// Reads the registry at `path` in one pass; a missing file is an empty
    /// registry. Lines that do not hold a valid contact are skipped with a
    /// warning naming the line, and kept.
    pub fn open(path: &Path) -> io::Result<Registry> {
        let mut file = RegistryFile {
            path: path.to_owned(),
            file: None,
            len: 0,
            needs_lf: false,
        };
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        file.len = bytes.len() as u64;
        file.needs_lf = !bytes.is_empty() && !bytes.ends_with(b"\n");
        let mut registry = Registry {
            contacts: Vec::new(),
            index: HashMap::new(),
            lines: Vec::new(),
            file: Arc::new(Mutex::new(file)),
            file_lines: 0,
            compact_slack: COMPACT_SLACK,
        };
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if bytes.is_empty() {
            return Ok(registry);
        }
        for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
            registry.file_lines += 1;
            match parse_line(raw) {
                Ok(contact) => {
                    registry.set(contact);
                }
                Err(why) => {
                    if let Some(why) = why {
                        log::warn!(
                            "{}:{}: {why}, skipped (kept in the file)",
                            path.display(),
                            n + 1
                        );
                    }
                    registry.lines.push(Line::Kept(raw.to_vec()));
                }
            }
        }
        Ok(registry)
    }

    /// Where `client_id` is in registration order.
    fn position(&self, client_id: &str) -> Option<usize> {
        self.index.get(client_id).copied()
    }

    /// Every contact, in order of first registration.
    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// Whether storing `contact` would change the registry.
    fn changes(&self, contact: &Contact) -> bool {
        self.position(&contact.client_id)
            .is_none_or(|i| self.contacts[i] != *contact)
    }

    /// The log file, for a disk job.
    fn file(&self) -> Arc<Mutex<RegistryFile>> {
        self.file.clone()
    }

    /// Counts one line appended to the log; when the log has grown to
    /// twice its compact size (and the slack), the compact file's bytes,
    /// for [`RegistryFile::replace`].
    fn appended(&mut self) -> Option<Vec<u8>> {
        self.file_lines += 1;
        if self.file_lines <= 2 * self.lines.len() + self.compact_slack {
            return None;
        }
        // Counted as done: a compaction that fails leaves the log whole
        // and current, and the next one waits as long again.
        self.file_lines = self.lines.len();
        Some(self.compact_text())
    }

    /// Stores or updates `contact`, on disk first (one appended line,
    /// fsynced), at once: what the disk job and its result do in turn.
    #[cfg(test)]
    pub fn put(&mut self, contact: Contact) -> io::Result<usize> {
        if !self.changes(&contact) {
            return Ok(self.position(&contact.client_id).unwrap_or_default());
        }
        lock(&self.file).append(contact_line(&contact).as_bytes())?;
        let i = self.set(contact);
        if let Some(text) = self.appended() {
            lock(&self.file).compact(&text);
        }
        Ok(i)
    }

    /// Compacts the log now.
    #[cfg(test)]
    fn compact(&mut self) -> io::Result<()> {
        let text = self.compact_text();
        lock(&self.file).replace(&text)?;
        self.file_lines = self.lines.len();
        Ok(())
    }

    /// Adds or updates `contact` in memory; returns its index.
    fn set(&mut self, contact: Contact) -> usize {
        match self.position(&contact.client_id) {
            Some(i) => {
                self.contacts[i] = contact;
                i
            }
            None => {
                let i = self.contacts.len();
                self.index.insert(contact.client_id.clone(), i);
                self.contacts.push(contact);
                self.lines.push(Line::Contact(i));
                i
            }
        }
    }

    /// One line per contact (and every kept line), in order.
    fn compact_text(&self) -> Vec<u8> {
        let mut text = Vec::new();
        for line in &self.lines {
            match line {
                Line::Contact(i) => {
                    text.extend_from_slice(contact_line(&self.contacts[*i]).as_bytes())
                }
                Line::Kept(raw) => {
                    text.extend_from_slice(raw);
                    text.push(b'\n');
                }
            }
        }
        text
    }
}

/// The registry file's lock; only disk jobs take it, one at a time, so it
/// is never contended (and a panicked job leaves nothing half-changed in
/// it that matters: every write checks the file's own length).
fn lock(file: &Mutex<RegistryFile>) -> std::sync::MutexGuard<'_, RegistryFile> {
    file.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RegistryFile {
    /// Appends `line` to the log and fsyncs it (after the line end a hand
    /// edit left out); on failure cuts the file back to its length before,
    /// so no partial line stays.
    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        if self.needs_lf {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line);
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let created = !self.path.exists();
                let file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&self.path)?;
                if created {
                    // The new file's name must survive a crash too.
                    File::open(dir_of(&self.path))?.sync_all()?;
                }
                self.len = file.metadata()?.len();
                self.file.insert(file)
            }
        };
        let written = file.write_all(&bytes).and_then(|()| file.sync_data());
        if let Err(e) = written {
            if let Err(cut) = file.set_len(self.len) {
                log::error!(
                    "{}: cannot cut back a failed append: {cut}",
                    self.path.display()
                );
            }
            return Err(e);
        }
        self.len += bytes.len() as u64;
        self.needs_lf = false;
        Ok(())
    }

    /// [`replace`](Self::replace), a failure only reported.
    fn compact(&mut self, text: &[u8]) {
        if let Err(e) = self.replace(text) {
            // The log is still whole and current; compaction waits.
            log::warn!("{}: cannot compact the registry: {e}", self.path.display());
        }
    }

    /// Replaces the log with `text`: write, fsync, rename, fsync the
    /// folder (a crash leaves the old log or the new file, never a mix).
    fn replace(&mut self, text: &[u8]) -> io::Result<()> {
        let dir = dir_of(&self.path);
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_owned();
        tmp_name.push(".tmp");
        let tmp = dir.join(tmp_name);
        let mut file = File::create(&tmp)?;
        file.write_all(text)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &self.path)?;
        File::open(dir)?.sync_all()?;
        // The old handle points at the replaced file.
        self.file = None;
        self.len = text.len() as u64;
        self.needs_lf = false;
        Ok(())
    }
}

/// A contact's line in the registry file, line end included.
fn contact_line(c: &Contact) -> String {
    format!("{} {} {}\n", c.client_id, c.ip, c.port)
}

/// The folder that holds `path`.
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A registry line's contact, or why it holds none (`None` for a blank
/// line, which is kept without a warning).
fn parse_line(raw: &[u8]) -> Result<Contact, Option<&'static str>> {
    let text = std::str::from_utf8(raw).map_err(|_| Some("not UTF-8"))?;
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields[..] {
        [] => Err(None),
        [id, ip, port] => Contact::new(id, ip, port)
            .check()
            .map_err(|_| Some("not a valid contact")),
        _ => Err(Some("not `clientID IP Port`")),
    }
}

/// The bridge server's state: the registry and who is paired with whom.
#[derive(Debug)]
pub struct Bridge {
    registry: Registry,
    /// `--max-contacts`: registrations are kept for good, so without a
    /// bound a script registering fresh ids would grow the memory and the
    /// file without end. At the bound a new id is refused; a registered
    /// one may still update its contact.
    max_contacts: usize,
    /// Each contact's partner (by index), once a BRIDGE answer paired them.
    partner: Vec<Option<usize>>,
    /// Clients that bridged with nobody to pair with, in registration order.
    waiting: BTreeSet<usize>,
    /// Clients without a partner, in registration order (waiting ones too).
    free: BTreeSet<usize>,
    /// Ids whose REGISTER waits for the disk: how many, and whether the id
    /// was new (then it counts against `--max-contacts` already). A
    /// REGISTER for one of them waits its turn too, even if unchanged.
    pending: HashMap<String, (usize, bool)>,
    /// How many of `pending` are new ids.
    pending_new: usize,
    /// The disk thread (once the dispatcher has started).
    disk: Option<Disk<Bridge>>,
}

impl Bridge {
    /// A server keeping its registry in `path` (read back now), taking
    /// new ids while fewer than `max_contacts` are registered (a file read
    /// back with more keeps them all).
    pub fn open(path: &Path, max_contacts: usize) -> io::Result<Bridge> {
        let registry = Registry::open(path)?;
        let n = registry.contacts().len();
        Ok(Bridge {
            registry,
            max_contacts,
            partner: vec![None; n],
            waiting: BTreeSet::new(),
            free: (0..n).collect(),
            pending: HashMap::new(),
            pending_new: 0,
            disk: None,
        })
    }

    /// A REGISTER: checked at once; a change is appended to the registry
    /// (on the disk thread) and the REGACK sent when it is on disk
    /// ([`saved`](Self::saved)); meanwhile everyone else is served.
    fn register(&mut self, conns: &mut Conns, id: ConnId, carried: Contact) {
        let status = match carried.check() {
            Err(reason) => {
                conns.status(id, format_args!("REGISTER rejected ({reason})"));
                format!("rejected ({reason})")
            }
            Ok(contact)
                if self.registry.position(&contact.client_id).is_none()
                    && !self.pending.contains_key(&contact.client_id)
                    && self.registry.contacts().len() + self.pending_new >= self.max_contacts =>
            {
                conns.status(
                    id,
                    format_args!(
                        "REGISTER {} rejected: registry full ({} contacts)",
                        contact.client_id, self.max_contacts
                    ),
                );
                REGISTRY_FULL.to_owned()
            }
            Ok(contact)
                if self.registry.changes(&contact)
                    || self.pending.contains_key(&contact.client_id) =>
            {
                return self.save(conns, id, carried, contact);
            }
            Ok(contact) => {
                // Unchanged: nothing to write.
                let (who, ip, port) = (&contact.client_id, &contact.ip, &contact.port);
                status::print(format_args!("REGISTER: {who} from {ip}:{port} received"));
                if let Some(i) = self.registry.position(who) {
                    self.start_afresh(i);
                }
                REGISTERED.to_owned()
            }
        };
        let reply = Message::RegAck {
            contact: carried,
            status,
        };
        conns.reply(id, reply.to_bytes());
    }

    /// Appends `contact` on the disk thread; [`saved`](Self::saved) follows.
    fn save(&mut self, conns: &mut Conns, id: ConnId, carried: Contact, contact: Contact) {
        let new = self.registry.position(&contact.client_id).is_none();
        let waiting = self.pending.entry(contact.client_id.clone()).or_default();
        if waiting.0 == 0 {
            waiting.1 = new;
            self.pending_new += usize::from(new);
        }
        waiting.0 += 1;
        let file = self.registry.file();
        let line = contact_line(&contact);
        let work = move || lock(&file).append(line.as_bytes());
        let then = move |bridge: &mut Bridge, conns: &mut Conns, written| {
            bridge.saved(conns, id, carried, contact, written)
        };
        // The connection's next request waits for this REGACK.
        conns.hold_answer(id);
        match &self.disk {
            Some(disk) => disk.run(work, then),
            None => then(self, conns, work()),
        }
    }

    /// The disk thread appended `contact` (or failed to): the registry
    /// changes (or stays as it was), and the REGACK goes out.
    fn saved(
        &mut self,
        conns: &mut Conns,
        id: ConnId,
        carried: Contact,
        contact: Contact,
        written: io::Result<()>,
    ) {
        if let Some(waiting) = self.pending.get_mut(&contact.client_id) {
            waiting.0 -= 1;
            if waiting.0 == 0 {
                self.pending_new -= usize::from(waiting.1);
                self.pending.remove(&contact.client_id);
            }
        }
        let (who, ip, port) = (&contact.client_id, &contact.ip, &contact.port);
        let status = match written {
            Ok(()) => {
                status::print(format_args!("REGISTER: {who} from {ip}:{port} received"));
                let i = self.registry.set(contact);
                self.start_afresh(i);
                if let Some(text) = self.registry.appended() {
                    let file = self.registry.file();
                    let work = move || lock(&file).compact(&text);
                    match &self.disk {
                        Some(disk) => disk.spawn(work),
                        None => work(),
                    }
                }
                REGISTERED.to_owned()
            }
            Err(e) => {
                log::error!("cannot save the registry: {e}");
                conns.status(id, format_args!("REGISTER {who} rejected: {e}"));
                "rejected (cannot save the registry)".to_owned()
            }
        };
        let reply = Message::RegAck {
            contact: carried,
            status,
        };
        conns.reply(id, reply.to_bytes());
        conns.answer_registration(id);
    }

    /// A client that registers (again) starts afresh: unpaired, not
    /// waiting. Its old partner is free again.
    fn start_afresh(&mut self, i: usize) {
        if i >= self.partner.len() {
            self.partner.resize(i + 1, None);
        }
        if let Some(j) = self.partner[i].take() {
            self.partner[j] = None;
            self.free.insert(j);
        }
        self.waiting.remove(&i);
        self.free.insert(i);
    }

    /// The requester's partner; else the earliest-registered waiting
    /// client; else the earliest-registered other client without a
    /// partner; else nobody (and the requester now waits).
    fn answer(&mut self, me: usize) -> Option<usize> {
        if let Some(j) = self.partner[me] {
            return Some(j);
        }
        let other = |set: &BTreeSet<usize>| set.iter().copied().find(|&k| k != me);
        let Some(j) = other(&self.waiting).or_else(|| other(&self.free)) else {
            self.waiting.insert(me);
            return None;
        };
        for k in [me, j] {
            self.waiting.remove(&k);
            self.free.remove(&k);
        }
        self.partner[me] = Some(j);
        self.partner[j] = Some(me);
        Some(j)
    }

    fn bridge(&mut self, conns: &mut Conns, id: ConnId, client_id: &str) {
        let Some(me) = self.registry.position(client_id) else {
            conns.status(
                id,
                format_args!("BRIDGE {}: not registered", safe::escape_str(client_id)),
            );
            return conns.reply(id, Message::BridgeAck(Contact::default()).to_bytes());
        };
        let paired = self.answer(me);
        let contacts = self.registry.contacts();
        let answer = match paired {
            Some(j) => {
                let (a, b) = (&contacts[me], &contacts[j]);
                status::print(format_args!(
                    "BRIDGE: {} {}:{} {} {}:{}",
                    a.client_id, a.ip, a.port, b.client_id, b.ip, b.port
                ));
                b.clone()
            }
            None => {
                let a = &contacts[me];
                status::print(format_args!("BRIDGE: {} {}:{}", a.client_id, a.ip, a.port));
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

    fn attach(&mut self, disk: Disk<Self>) {
        self.disk = Some(disk);
    }

    /// A REGISTER's REGACK may wait for the disk: the connection's next
    /// request is read after it.
    fn holds(message: &Message) -> bool {
        matches!(message, Message::Register(_))
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
    fn a_stalled_disk_holds_only_the_regack_that_waits_for_it() {
        let mut h = registered("stalled", &["A", "B"]);
        h.stalled = true;
        let regack = |id: &str, port: &str| {
            format!(
                "REGACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\nStatus: {REGISTERED}\r\n\r\n"
            )
        };
        // C registers, then A moves: both appends wait for the disk.
        let c = h.connect();
        h.request(c, register("C", "3"));
        let a = h.connect();
        h.request(a, register("A", "7"));
        assert_eq!(h.take(c), "");
        assert_eq!(h.take(a), "");
        // Meanwhile another client is answered, from what is on disk: A is
        // still at port 1, and C is not registered yet.
        assert_eq!(ask(&mut h, bridge("B")), ack("A", "1"));
        assert_eq!(ask(&mut h, bridge("C")), ack("", ""));
        // A REGISTER of A waits its turn behind A's move (and is written
        // again: it was not unchanged when it came).
        let a_again = h.connect();
        h.request(a_again, register("A", "7"));
        assert_eq!(h.take(a_again), "");
        // The disk catches up: the REGACKs go out, in order, and the
        // registry holds what they acknowledged.
        assert_eq!(h.run_disk(), 3);
        assert_eq!(h.take(c), regack("C", "3"));
        assert_eq!(h.take(a), regack("A", "7"));
        assert_eq!(h.take(a_again), regack("A", "7"));
        assert_eq!(ask(&mut h, bridge("C")), ack("A", "7"));
    }

    /// What `drain` is sent next, waited for (bounded).
    fn next_reply(drain: &crate::outbox::Drain) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let bytes = drain.take_now();
            if !bytes.is_empty() || std::time::Instant::now() > deadline {
                return String::from_utf8_lossy(&bytes).into_owned();
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_dispatcher_serves_others_while_the_disk_is_stalled_and_finishes_at_shutdown() {
        use crate::conns::Conn;
        use crate::dispatch::{Dispatcher, Event};
        let path = registry_path("run");
        fs::write(&path, "A 127.0.0.1 1\n").unwrap();
        // The test is the disk thread: it runs each job when it chooses.
        let (jobs, disk) = crossbeam_channel::bounded(crate::disk::JOBS);
        let (events, inbox) = crossbeam_channel::bounded(16);
        let server = Bridge::open(&path, 10).unwrap();
        let dispatcher = Dispatcher::with_jobs(server, Conns::new(None), jobs);
        let running = std::thread::spawn(move || dispatcher.run(inbox));
        let connect = |n: u64| {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 40000 + n as u16));
            let (conn, drain) = Conn::detached(n as i32, addr, 1 << 20);
            events.send(Event::Connected(ConnId(n), conn)).unwrap();
            drain
        };
        let regack = |id: &str, port: &str| {
            format!(
                "REGACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\nStatus: {REGISTERED}\r\n\r\n"
            )
        };
        let slow = connect(1);
        events
            .send(Event::Request(ConnId(1), register("B", "2")))
            .unwrap();
        // Another client is answered while B's append waits for the disk.
        let other = connect(2);
        events.send(Event::Request(ConnId(2), bridge("A"))).unwrap();
        assert_eq!(next_reply(&other), ack("", ""));
        assert_eq!(slow.take_now(), b"");
        let append = disk.recv().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "A 127.0.0.1 1\n");
        // The stall ends: the line is on disk, then the REGACK goes out.
        append();
        assert_eq!(next_reply(&slow), regack("B", "2"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "A 127.0.0.1 1\nB 127.0.0.1 2\n"
        );
        // A REGISTER still waiting at shutdown is written and acknowledged
        // before the queues close.
        let last = connect(3);
        events
            .send(Event::Request(ConnId(3), register("C", "3")))
            .unwrap();
        events.send(Event::Shutdown).unwrap();
        for job in disk {
            job();
        }
        running.join().unwrap();
        assert_eq!(last.take_now(), regack("C", "3").into_bytes());
        assert!(last.is_closed());
        assert!(fs::read_to_string(&path)
            .unwrap()
            .ends_with("C 127.0.0.1 3\n"));
    }

    #[test]
    fn past_max_contacts_a_new_id_is_refused_and_a_known_one_updates() {
        let path = registry_path("full");
        let mut h = Harness::new(Bridge::open(&path, 2).unwrap());
        let regack = |id: &str, port: &str, status: &str| {
            format!(
                "REGACK\r\nclientID: {id}\r\nIP: 127.0.0.1\r\nPort: {port}\r\nStatus: {status}\r\n\r\n"
            )
        };
        assert_eq!(
            ask(&mut h, register("Al", "1")),
            regack("Al", "1", REGISTERED)
        );
        assert_eq!(
            ask(&mut h, register("Bo", "2")),
            regack("Bo", "2", REGISTERED)
        );
        assert_eq!(
            ask(&mut h, register("Cy", "3")),
            regack("Cy", "3", REGISTRY_FULL)
        );
        // A registered id still moves.
        assert_eq!(
            ask(&mut h, register("Al", "9")),
            regack("Al", "9", REGISTERED)
        );
        assert_eq!(ask(&mut h, bridge("Bo")), ack("Al", "9"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "Al 127.0.0.1 1\nBo 127.0.0.1 2\nAl 127.0.0.1 9\n"
        );
        // A file read back with more than the bound keeps them all.
        let h = Bridge::open(&path, 1).unwrap();
        assert_eq!(h.registry.contacts().len(), 2);
    }

    #[test]
    fn register_is_appended_before_the_regack_and_reads_back() {
        let path = registry_path("saved");
        let mut h = Harness::new(Bridge::open(&path, 1000).unwrap());
        assert_eq!(
            ask(&mut h, register("Alice", "5000")),
            "REGACK\r\nclientID: Alice\r\nIP: 127.0.0.1\r\nPort: 5000\r\nStatus: registered\r\n\r\n"
        );
        ask(&mut h, register("Bob", "6000"));
        ask(&mut h, register("Alice", "5001"));
        // Unchanged: nothing appended.
        ask(&mut h, register("Bob", "6000"));
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "Alice 127.0.0.1 5000\nBob 127.0.0.1 6000\nAlice 127.0.0.1 5001\n"
        );
        let again = Registry::open(&path).unwrap();
        assert_eq!(
            again.contacts(),
            &[
                Contact::new("Alice", "127.0.0.1", "5001"),
                Contact::new("Bob", "127.0.0.1", "6000")
            ]
        );
        assert_eq!(again.contacts(), h.dispatcher.dialect.registry.contacts());
    }

    #[test]
    fn the_log_is_compacted_in_order_of_first_registration_keeping_bad_lines() {
        let path = registry_path("compact");
        let start = b"Al 127.0.0.1 5\n\xff\xfe bad\nnot a contact line\nBo ::1 6";
        fs::write(&path, start).unwrap();
        let mut registry = Registry::open(&path).unwrap();
        // Updates are appended (after the line end the file lacked).
        registry.put(Contact::new("Al", "127.0.0.1", "10")).unwrap();
        registry.put(Contact::new("Cy", "10.0.0.1", "7")).unwrap();
        registry.put(Contact::new("Al", "127.0.0.1", "14")).unwrap();
        let mut log = start.to_vec();
        log.extend_from_slice(b"\nAl 127.0.0.1 10\nCy 10.0.0.1 7\nAl 127.0.0.1 14\n");
        assert_eq!(fs::read(&path).unwrap(), log);
        assert_eq!(
            Registry::open(&path).unwrap().contacts(),
            registry.contacts()
        );
        // Compacted: one line per contact in order of first registration,
        // the lines that hold none kept in place, byte for byte.
        registry.compact().unwrap();
        let compact =
            b"Al 127.0.0.1 14\n\xff\xfe bad\nnot a contact line\nBo ::1 6\nCy 10.0.0.1 7\n";
        assert_eq!(fs::read(&path).unwrap(), compact);
        // Appending after a compaction goes to the new file.
        registry.put(Contact::new("Di", "10.0.0.2", "8")).unwrap();
        let mut log = compact.to_vec();
        log.extend_from_slice(b"Di 10.0.0.2 8\n");
        assert_eq!(fs::read(&path).unwrap(), log);
        assert_eq!(
            Registry::open(&path).unwrap().contacts(),
            registry.contacts()
        );
        assert!(!dir_of(&path).join("registry.txt.tmp").exists());
    }

    #[test]
    fn compaction_keeps_the_log_within_twice_its_compact_size() {
        let path = registry_path("bounded");
        let mut registry = Registry::open(&path).unwrap();
        registry.compact_slack = 4;
        for round in 0..50u32 {
            for id in ["A", "B", "C"] {
                registry
                    .put(Contact::new(id, "127.0.0.1", (round + 1).to_string()))
                    .unwrap();
            }
        }
        let lines = fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 2 * 3 + 4, "{lines} lines");
        assert_eq!(
            Registry::open(&path).unwrap().contacts(),
            &[
                Contact::new("A", "127.0.0.1", "50"),
                Contact::new("B", "127.0.0.1", "50"),
                Contact::new("C", "127.0.0.1", "50")
            ]
        );
    }

    #[test]
    fn bad_register_echoes_what_it_carried() {
        let mut h = Harness::new(Bridge::open(&registry_path("bad"), 1000).unwrap());
        let carried = Contact::new("Al", "", "5000");
        assert_eq!(
            ask(&mut h, Message::Register(carried)),
            "REGACK\r\nclientID: Al\r\nIP: \r\nPort: 5000\r\nStatus: rejected (missing IP)\r\n\r\n"
        );
        assert!(h.dispatcher.dialect.registry.contacts().is_empty());
    }

    /// A fresh server with `ids` registered in order (ports 1, 2, ...).
    fn registered(test: &str, ids: &[&str]) -> Harness<Bridge> {
        let mut h = Harness::new(Bridge::open(&registry_path(test), 1000).unwrap());
        for (n, id) in ids.iter().enumerate() {
            ask(&mut h, register(id, &(n + 1).to_string()));
        }
        h
    }

    /// BRIDGE requests in order: who asks, and whom it gets (`""` nobody).
    type Requests = Vec<(&'static str, &'static str)>;

    #[test]
    fn bridge_answers_in_every_request_order() {
        // (registered, then BRIDGE requests and the peer each gets)
        #[rustfmt::skip]
        let cases: Vec<(&[&str], Requests)> = vec![
            // A registers, B registers, A bridges: A gets B, and B gets A.
            (&["A", "B"], vec![("A", "B"), ("B", "A"), ("A", "B")]),
            (&["A", "B"], vec![("B", "A"), ("A", "B")]),
            // Alone: nobody, however often; then the newcomer gets the waiter.
            (&["A"], vec![("A", ""), ("A", "")]),
            // Four bridging in turn pair 1-2 and 3-4.
            (&["1", "2", "3", "4"], vec![("1", "2"), ("2", "1"), ("3", "4"), ("4", "3")]),
            // A waiting client comes before an earlier one that never bridged.
            (&["A", "B", "C"], vec![("C", "A"), ("B", ""), ("A", "C")]),
            // Unregistered: the empty answer, and nobody starts waiting.
            (&["A", "B"], vec![("Nobody", ""), ("B", "A")]),
        ];
        for (n, (ids, requests)) in cases.into_iter().enumerate() {
            let mut h = registered(&format!("order{n}"), ids);
            for (asker, want) in requests {
                let port = ids
                    .iter()
                    .position(|id| *id == want)
                    .map_or(String::new(), |i| (i + 1).to_string());
                assert_eq!(
                    ask(&mut h, bridge(asker)),
                    ack(want, &port),
                    "case {n}: {asker} asks, registered {ids:?}"
                );
            }
        }
    }

    #[test]
    fn a_waiter_is_answered_first_and_registering_again_starts_afresh() {
        let mut h = registered("waiter", &["A", "B", "C"]);
        // Nobody waits: A gets the earliest other free client, B.
        assert_eq!(ask(&mut h, bridge("A")), ack("B", "2"));
        // C: nobody waiting, no other free client: C waits.
        assert_eq!(ask(&mut h, bridge("C")), ack("", ""));
        // D registers and bridges: gets the waiting C.
        ask(&mut h, register("D", "4"));
        assert_eq!(ask(&mut h, bridge("D")), ack("C", "3"));
        // B registers again (a restarted client): A is free again, and the
        // next to ask pairs with the earliest free one.
        ask(&mut h, register("B", "2"));
        assert_eq!(ask(&mut h, bridge("B")), ack("A", "1"));
        assert_eq!(ask(&mut h, bridge("A")), ack("B", "2"));
    }

    #[test]
    fn other_messages_close_the_connection() {
        let mut h = Harness::new(Bridge::open(&registry_path("other"), 1000).unwrap());
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
        let mut h = Harness::new(Bridge::open(&path, 1000).unwrap());
        assert_eq!(
            ask(&mut h, register("Al", "5")),
            "REGACK\r\nclientID: Al\r\nIP: 127.0.0.1\r\nPort: 5\r\n\
             Status: rejected (cannot save the registry)\r\n\r\n"
        );
        assert_eq!(ask(&mut h, bridge("Al")), ack("", ""));
    }

    #[test]
    fn bad_registry_lines_are_skipped_but_kept() {
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
        let kept: Vec<&Line> = registry
            .lines
            .iter()
            .filter(|l| matches!(l, Line::Kept(_)))
            .collect();
        assert_eq!(
            kept,
            [
                &Line::Kept(vec![]),
                &Line::Kept(b"garbage".to_vec()),
                &Line::Kept(b"Cy 1.2.3.4 0".to_vec())
            ]
        );
    }
}

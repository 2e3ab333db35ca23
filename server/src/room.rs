//! room: one chatroom of at most `--max-users` users, speaking header blocks
//! with payloads; it keeps the history and relays attachments.
//!
//! Every row of the contract's table is an arm of [`Room::request`]. The
//! server fills TIMESTAMP (local time, `HH:MM:SS`) on what goes into the
//! history and nowhere else. Files (the history file, the downloads folder)
//! live in [`files`]; this module decides what goes into them, and the disk
//! thread writes them ([`Disk`]).
//!
//! An attachment is relayed once the disk thread has stored it, and with a
//! history file every broadcast goes out once its entry is in the file (so
//! a message relayed survives a kill -9). Until then every later broadcast
//! (texts, joins, leaves, other attachments) waits behind it in
//! `Room::waiting`, so that nobody sees the room's messages in another
//! order; replies to one client (REPORT, rejects, errors) go at once. Each connection has at most one request in that queue: its reader
//! takes the next text or attachment only once the last one has gone out
//! ([`Dialect::holds`]), and a user joins and leaves once.

mod files;
mod history;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chat_protocol::name;
use chat_protocol::room::{
    attachment_text, encode_entry, entry_text, Kind, Malformed, Message, MessageDecoder,
};
use chat_protocol::safe::escape_str as safe;

use crate::conns::{ConnId, Conns};
use crate::disk::Disk;
use crate::dispatch::Dialect;
use crate::outbox::Bytes;
use crate::trace::{self, Way};
use files::HistoryFile;
use history::History;

/// The name announcements and the server's own texts come from; no user may
/// take it.
const SERVER: &str = "Server";

const REJECT_JOINED: &str = "The server rejects the join request. You have already joined.";
const REJECT_INVALID: &str = "The server rejects the join request. The username is not valid.";
const REJECT_FULL: &str =
    "The server rejects the join request. The chatroom has reached its maximum capacity.";
const REJECT_TAKEN: &str =
    "The server rejects the join request. Another user is using this username.";
const JOIN_FIRST: &str = "You must join the chatroom first.";
const TEXT_TOO_LONG: &str = "Text too long (at most 65536 bytes).";

/// The room's command-line settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_users: usize,
    pub downloads: PathBuf,
    pub max_attachment: u64,
    pub history: Option<PathBuf>,
    /// The most bytes of history a JOIN_ACCEPT carries (and the room keeps
    /// in memory).
    pub join_history: usize,
}

/// One user in the chatroom.
#[derive(Debug)]
struct User {
    id: ConnId,
    name: String,
    /// The address it joined from, for reports.
    addr: SocketAddr,
}

/// What storing an attachment gave: its name and path (or why not), and
/// its bytes back.
type Stored = (io::Result<(String, PathBuf)>, Vec<u8>);

/// A broadcast that waits for the disk: for its own history entry to be
/// written, or behind one that does.
enum Step {
    /// An attachment the disk thread stores (and writes its history entry);
    /// `stored` once it has.
    Upload {
        token: u64,
        from: ConnId,
        me: String,
        filename: String,
        /// When it came.
        at: String,
        stored: Option<Stored>,
    },
    /// A message for everyone and its history entry, `written` once the
    /// disk thread has appended it (at once without a history file);
    /// `from`'s reader waits for it to go out.
    Broadcast {
        token: u64,
        written: bool,
        entry: Vec<u8>,
        message: Message,
        from: Option<ConnId>,
    },
}

/// The room's state: who is in, in join order, and the history.
pub struct Room {
    config: Config,
    users: Vec<User>,
    /// The newest entries, as many as a JOIN_ACCEPT carries.
    history: History,
    /// Written by the disk thread only (its lock is never contended).
    history_file: Option<Arc<Mutex<HistoryFile>>>,
    /// Where the free-name search for each attachment name starts; used by
    /// the disk thread only.
    names: Arc<Mutex<files::Names>>,
    /// Broadcasts waiting for the disk, in order; empty when it keeps up.
    waiting: VecDeque<Step>,
    /// The last step's token.
    tokens: u64,
    /// The disk thread (once the dispatcher has started).
    disk: Option<Disk<Room>>,
    /// The time of day as `HH:MM:SS`; a fixed clock in tests.
    clock: Box<dyn FnMut() -> String + Send>,
}

/// A lock only disk jobs take, one at a time.
fn lock<T>(file: &Mutex<T>) -> MutexGuard<'_, T> {
    file.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Room {
    /// A room with `config`; reads the history back when it has a history
    /// file, and creates the downloads folder.
    pub fn open(config: Config) -> Result<Room, String> {
        let mut history = History::new(config.join_history);
        let history_file = match &config.history {
            Some(path) => Some(Arc::new(Mutex::new(
                HistoryFile::open(path, &mut history)
                    .map_err(|e| format!("cannot open history file {}: {e}", path.display()))?,
            ))),
            None => None,
        };
        if let Err(e) = std::fs::create_dir_all(&config.downloads) {
            // Not fatal: storing an attachment tries again, and says why.
            log::warn!("cannot create {}: {e}", config.downloads.display());
        }
        Ok(Room {
            config,
            users: Vec::new(),
            history,
            history_file,
            names: Arc::new(Mutex::new(files::Names::default())),
            waiting: VecDeque::new(),
            tokens: 0,
            disk: None,
            clock: Box::new(|| chrono::Local::now().format("%H:%M:%S").to_string()),
        })
    }

    fn user(&self, id: ConnId) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// A token for the next step.
    fn token(&mut self) -> u64 {
        self.tokens += 1;
        self.tokens
    }

    /// `message` for everyone, with its history `entry`: at once when
    /// nothing waits for the disk and there is no history file; else once
    /// the entry is in the file and what came before has gone out, so that
    /// a message out is a message kept (as before a kill -9) and nobody sees
    /// the room in another order. `from`'s reader, if given, waits until
    /// the message has gone out.
    fn announce(
        &mut self,
        conns: &mut Conns,
        entry: Vec<u8>,
        message: Message,
        from: Option<ConnId>,
    ) {
        if self.history_file.is_none() && self.waiting.is_empty() {
            self.history.push(&entry);
            return self.broadcast(conns, &message);
        }
        let token = self.token();
        let file = self.history_file.clone();
        let line = file.as_ref().map(|_| entry.clone());
        self.waiting.push_back(Step::Broadcast {
            token,
            written: file.is_none(),
            entry,
            message,
            from,
        });
        if let Some(id) = from {
            conns.hold_answer(id);
        }
        if let (Some(file), Some(line)) = (file, line) {
            let work = move || lock(&file).append(&line);
            let then = move |room: &mut Room, conns: &mut Conns, ()| room.done(conns, token, None);
            match &self.disk {
                Some(disk) => disk.run(work, then),
                None => {
                    work();
                    then(self, conns, ());
                }
            }
        }
    }

    /// The disk thread finished step `token`: an upload stored (or not),
    /// or an entry written.
    fn done(&mut self, conns: &mut Conns, token: u64, result: Option<Stored>) {
        for step in self.waiting.iter_mut() {
            match step {
                Step::Upload {
                    token: t, stored, ..
                } if *t == token => {
                    *stored = result;
                    break;
                }
                Step::Broadcast {
                    token: t, written, ..
                } if *t == token => {
                    *written = true;
                    break;
                }
                _ => {}
            }
        }
        self.go_on(conns);
    }

    /// Sends what waited, in order, up to the next step the disk has not
    /// finished.
    fn go_on(&mut self, conns: &mut Conns) {
        loop {
            let ready = match self.waiting.front() {
                Some(Step::Upload { stored, .. }) => stored.is_some(),
                Some(Step::Broadcast { written, .. }) => *written,
                None => false,
            };
            if !ready {
                return;
            }
            match self.waiting.pop_front() {
                Some(Step::Broadcast {
                    entry,
                    message,
                    from,
                    ..
                }) => {
                    self.history.push(&entry);
                    self.broadcast(conns, &message);
                    if let Some(id) = from {
                        conns.answer_registration(id);
                    }
                }
                Some(Step::Upload {
                    from,
                    me,
                    filename,
                    at,
                    stored: Some((stored, bytes)),
                    ..
                }) => self.relay(conns, from, me, &filename, &at, stored, bytes),
                _ => return,
            }
        }
    }

    /// A history entry, stamped `at`.
    fn entry(at: &str, username: &str, text: &[u8]) -> Vec<u8> {
        let mut entry = Vec::with_capacity(text.len() + username.len() + 14);
        encode_entry(at, username, text, &mut entry);
        entry
    }

    /// Sends `message`, encoded once, to every user in the room.
    fn broadcast(&self, conns: &mut Conns, message: &Message) {
        let bytes = Bytes::from(message.to_bytes());
        for user in &self.users {
            conns.send(user.id, &bytes);
        }
    }

    /// A text from `Server` to `id` alone; not part of the history.
    fn tell(conns: &mut Conns, id: ConnId, text: &str) {
        conns.reply(id, Message::text(SERVER, text).to_bytes());
    }

    fn report(&self, conns: &mut Conns, id: ConnId) {
        conns.status(id, format_args!("REPORT ({} users)", self.users.len()));
        let mut payload = String::new();
        for user in &self.users {
            let (ip, port) = (user.addr.ip(), user.addr.port());
            payload.push_str(&format!("{} {ip} {port}\n", user.name));
        }
        let response = Message::new(Kind::ReportResponse)
            .number(self.users.len() as u64)
            .payload(payload);
        conns.reply(id, response.to_bytes());
    }

    fn join(&mut self, conns: &mut Conns, id: ConnId, name: String) {
        let reject = if self.user(id).is_some() {
            Some(REJECT_JOINED)
        } else if !name::ROOM.accepts(&name) || name == SERVER {
            Some(REJECT_INVALID)
        } else if self.users.len() >= self.config.max_users {
            Some(REJECT_FULL)
        } else if self.users.iter().any(|u| u.name == name) {
            Some(REJECT_TAKEN)
        } else {
            None
        };
        if let Some(reason) = reject {
            conns.status(
                id,
                format_args!("JOIN \"{}\" refused: {reason}", safe(&name)),
            );
            let reply = Message::new(Kind::JoinReject).payload(reason);
            return conns.reply(id, reply.to_bytes());
        }
        let Some(addr) = conns.addr(id) else { return };
        conns.status(id, format_args!("JOIN {}", safe(&name)));
        let accept = Message::new(Kind::JoinAccept)
            .user(&name)
            .payload(self.history.join_payload());
        conns.reply(id, accept.to_bytes());
        conns.set_registered(id);
        let (at, text) = ((self.clock)(), format!("{name} joined the chatroom."));
        let entry = Self::entry(&at, SERVER, text.as_bytes());
        let new_user = Message::new(Kind::NewUser)
            .user(&name)
            .at(&at)
            .payload(text);
        self.users.push(User { id, name, addr });
        self.announce(conns, entry, new_user, None);
    }

    fn text(&mut self, conns: &mut Conns, id: ConnId, me: String, payload: Vec<u8>) {
        if payload.is_empty() {
            return conns.status(id, format_args!("empty text from {} ignored", safe(&me)));
        }
        conns.status(
            id,
            format_args!("TEXT {} ({} bytes)", safe(&me), payload.len()),
        );
        let at = (self.clock)();
        let entry = Self::entry(&at, &me, entry_text(&payload));
        let relay = Message::text(&me, payload).at(&at);
        self.announce(conns, entry, relay, Some(id));
    }

    /// An upload: stored on the disk thread, which then writes its history
    /// entry; what comes after it in the room waits until it is relayed
    /// ([`done`](Self::done)), and so does the uploader's reader.
    fn attachment(&mut self, conns: &mut Conns, id: ConnId, me: String, message: Message) {
        let token = self.token();
        let at = (self.clock)();
        let (names, dir) = (self.names.clone(), self.config.downloads.clone());
        let history = self.history_file.clone();
        let (filename, bytes) = (message.filename, message.payload);
        let (name, who, when) = (filename.clone(), me.clone(), at.clone());
        let work = move || {
            let stored = files::store_with(&mut lock(&names), &dir, &name, &bytes);
            if let (Ok((name, _)), Some(file)) = (&stored, history) {
                let text = attachment_text(&who, name, &bytes);
                lock(&file).append(&Self::entry(&when, &who, &text));
            }
            (stored, bytes)
        };
        self.waiting.push_back(Step::Upload {
            token,
            from: id,
            me,
            filename,
            at,
            stored: None,
        });
        conns.hold_answer(id);
        let then =
            move |room: &mut Room, conns: &mut Conns, stored| room.done(conns, token, Some(stored));
        match &self.disk {
            Some(disk) => disk.run(work, then),
            None => then(self, conns, work()),
        }
    }

    /// Relays a stored attachment, or tells its uploader why not; its
    /// reader goes on.
    #[allow(clippy::too_many_arguments)]
    fn relay(
        &mut self,
        conns: &mut Conns,
        id: ConnId,
        me: String,
        filename: &str,
        at: &str,
        stored: io::Result<(String, PathBuf)>,
        bytes: Vec<u8>,
    ) {
        conns.answer_registration(id);
        let (stored, path) = match stored {
            Ok(stored) => stored,
            Err(e) => {
                log::warn!("cannot store an attachment from {}: {e}", safe(&me));
                conns.status(id, format_args!("ATTACHMENT {} not stored: {e}", safe(&me)));
                return Self::tell(conns, id, "The server could not store the attachment.");
            }
        };
        conns.status(
            id,
            format_args!(
                "ATTACHMENT {} \"{}\" stored as {} ({} bytes)",
                safe(&me),
                safe(filename),
                safe(&path.display().to_string()),
                bytes.len()
            ),
        );
        // In the file already (the disk thread wrote it after the file).
        let entry = Self::entry(at, &me, &attachment_text(&me, &stored, &bytes));
        self.history.push(&entry);
        let relay = Message::new(Kind::Attachment)
            .user(&me)
            .file(&stored)
            .at(at)
            .payload(bytes);
        self.broadcast(conns, &relay);
    }

    /// Takes `id` out of the room and tells with QUIT_ACCEPT everyone left,
    /// and the leaver too when it asked to quit (a connection that broke or
    /// was cut for malformed input is not told).
    fn leave(&mut self, conns: &mut Conns, id: ConnId, tell_leaver: bool) {
        let Some(at) = self.users.iter().position(|u| u.id == id) else {
            return;
        };
        let leaver = self.users.remove(at);
        let (at, text) = (
            (self.clock)(),
            format!("{} left the chatroom.", leaver.name),
        );
        let entry = Self::entry(&at, SERVER, text.as_bytes());
        let quit = Message::new(Kind::QuitAccept)
            .user(&leaver.name)
            .at(&at)
            .payload(text);
        if tell_leaver {
            conns.reply(id, quit.to_bytes());
        }
        self.announce(conns, entry, quit, None);
    }
}

impl Dialect for Room {
    type Decoder = MessageDecoder;

    /// `--trace` shows each header line as on the wire, then the payload on
    /// one line with its byte count, as the client's `-v` does.
    fn trace(way: Way, bytes: &[u8], lines: &mut Vec<String>) {
        trace::room(way, bytes, lines);
    }

    fn decoder(&self) -> MessageDecoder {
        MessageDecoder::server(self.config.max_attachment)
    }

    fn attach(&mut self, disk: Disk<Self>) {
        self.disk = Some(disk);
    }

    /// A text or an attachment may wait behind an attachment being stored:
    /// the reader takes the next one after it has gone out.
    fn holds(message: &Message) -> bool {
        matches!(message.kind, Kind::Text | Kind::Attachment)
    }

    /// Before joining, at most 64 KiB of payload; the reader waits for each
    /// JOIN_REQUEST's verdict, so a refused joiner keeps that limit and an
    /// accepted one may send attachments at once.
    fn may_register(message: &Message) -> bool {
        message.kind == Kind::JoinRequest
    }

    fn registered(decoder: &mut MessageDecoder, joined: bool) {
        decoder.set_joined(joined);
    }

    fn request(&mut self, conns: &mut Conns, id: ConnId, message: Message) {
        let me = self.user(id).map(|u| u.name.clone());
        match (message.kind, me) {
            (Kind::ReportRequest, _) => self.report(conns, id),
            (Kind::JoinRequest, _) => self.join(conns, id, message.username),
            (Kind::Text, Some(me)) if message.dropped > 0 => {
                conns.status(
                    id,
                    format_args!(
                        "TEXT {} too long ({} bytes), dropped",
                        safe(&me),
                        message.dropped
                    ),
                );
                Self::tell(conns, id, TEXT_TOO_LONG);
            }
            (Kind::Text, Some(me)) => self.text(conns, id, me, message.payload),
            (Kind::Attachment, Some(me)) => self.attachment(conns, id, me, message),
            (Kind::QuitRequest, Some(me)) => {
                conns.status(id, format_args!("QUIT {}", safe(&me)));
                self.leave(conns, id, true);
                conns.close(id);
            }
            (kind @ (Kind::Text | Kind::Attachment | Kind::QuitRequest), None) => {
                conns.status(id, format_args!("{kind:?} refused: not joined"));
                Self::tell(conns, id, JOIN_FIRST);
            }
            // What only a server sends means nothing coming from a client.
            (kind, _) => conns.status(id, format_args!("{kind:?} from a client ignored")),
        }
    }

    fn malformed(&mut self, conns: &mut Conns, id: ConnId, error: Malformed) {
        conns.status(
            id,
            format_args!("malformed message: {}, closing", safe(&error.to_string())),
        );
        Self::tell(conns, id, &format!("Malformed message: {error}"));
    }

    fn disconnected(&mut self, conns: &mut Conns, id: ConnId) {
        if let Some(user) = self.user(id) {
            conns.status(id, format_args!("{} left", safe(&user.name)));
            self.leave(conns, id, false);
        }
    }

    fn shutdown(&mut self, _conns: &mut Conns) {
        let Some(file) = &self.history_file else {
            return;
        };
        let file = file.clone();
        let sync = move || lock(&file).sync();
        match &self.disk {
            // A disk so far behind that its queue is full does not hold up
            // the exit; what it has been given is written as it catches up.
            Some(disk) => {
                if !disk.spawn_unless_full(sync) {
                    log::warn!("the disk is behind: the history is not synced at exit");
                }
            }
            None => sync(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::testing::Harness;
    use chat_protocol::{Decoded, Decoder};

    fn room(max_users: usize) -> Harness<Room> {
        room_with_history(max_users, 1 << 20)
    }

    fn room_with_history(max_users: usize, join_history: usize) -> Harness<Room> {
        let dir = files::tests::scratch("dialect");
        let mut room = Room::open(Config {
            max_users,
            downloads: dir.join("downloads"),
            max_attachment: 1 << 20,
            history: None,
            join_history,
        })
        .unwrap();
        room.clock = Box::new(|| "12:00:00".to_owned());
        Harness::new(room)
    }

    /// Every message `id` was sent since the last look.
    fn take(h: &mut Harness<Room>, id: ConnId) -> Vec<Message> {
        let bytes = h.take_bytes(id);
        let mut decoder = MessageDecoder::new(u64::MAX);
        let mut rest = &bytes[..];
        let mut out = Vec::new();
        while let Ok(Decoded::Item(message, used)) = decoder.decode(rest) {
            out.push(message);
            rest = &rest[used..];
        }
        assert!(rest.is_empty(), "undecodable tail");
        out
    }

    /// A room of three with Cool and Fun in it, their queues read.
    fn cool_and_fun() -> (Harness<Room>, ConnId, ConnId) {
        let mut h = room(3);
        let cool = join(&mut h, "Cool");
        let fun = join(&mut h, "Fun");
        take(&mut h, cool);
        take(&mut h, fun);
        (h, cool, fun)
    }

    fn join(h: &mut Harness<Room>, name: &str) -> ConnId {
        let id = h.connect();
        h.request(id, Message::new(Kind::JoinRequest).user(name));
        id
    }

    fn new_user(name: &str) -> Message {
        Message::new(Kind::NewUser)
            .user(name)
            .at("12:00:00")
            .payload(format!("{name} joined the chatroom."))
    }

    fn reject(reason: &str) -> Message {
        Message::new(Kind::JoinReject).payload(reason)
    }

    #[test]
    fn join_accept_carries_the_history_then_everyone_hears_new_user() {
        let mut h = room(3);
        let cool = join(&mut h, "Cool");
        assert_eq!(
            take(&mut h, cool),
            vec![
                Message::new(Kind::JoinAccept).user("Cool"),
                new_user("Cool")
            ]
        );
        h.request(cool, Message::text("ignored", "Hi.").at("99:99:99"));
        let relay = Message::text("Cool", "Hi.").at("12:00:00");
        assert_eq!(take(&mut h, cool), vec![relay]);
        let fun = join(&mut h, "Fun");
        let history = "[12:00:00] Server: Cool joined the chatroom.\n[12:00:00] Cool: Hi.\n";
        assert_eq!(
            take(&mut h, fun),
            vec![
                Message::new(Kind::JoinAccept).user("Fun").payload(history),
                new_user("Fun")
            ]
        );
        assert_eq!(take(&mut h, cool), vec![new_user("Fun")]);
    }

    #[test]
    fn reject_rows_in_table_order() {
        let mut h = room(2);
        let cool = join(&mut h, "Cool");
        h.request(cool, Message::new(Kind::JoinRequest).user("bad name"));
        let fun = join(&mut h, "Fun");
        take(&mut h, cool);
        take(&mut h, fun);
        assert_eq!(take(&mut h, cool), vec![]);
        let late = h.connect();
        for name in ["", "a b", "Server", "Cool", "Sad"] {
            h.request(late, Message::new(Kind::JoinRequest).user(name));
        }
        assert_eq!(
            take(&mut h, late),
            vec![
                reject(REJECT_INVALID),
                reject(REJECT_INVALID),
                reject(REJECT_INVALID),
                reject(REJECT_FULL),
                reject(REJECT_FULL),
            ]
        );
        h.request(fun, Message::new(Kind::QuitRequest));
        h.request(late, Message::new(Kind::JoinRequest).user("Cool"));
        h.request(
            late,
            Message::new(Kind::JoinRequest).user("x".repeat(33).as_str()),
        );
        assert_eq!(
            take(&mut h, late),
            vec![reject(REJECT_TAKEN), reject(REJECT_INVALID)]
        );
    }

    #[test]
    fn already_joined_comes_first() {
        let mut h = room(1);
        let cool = join(&mut h, "Cool");
        take(&mut h, cool);
        h.request(cool, Message::new(Kind::JoinRequest).user("bad name"));
        assert_eq!(take(&mut h, cool), vec![reject(REJECT_JOINED)]);
    }

    #[test]
    fn acting_before_joining_and_server_only_kinds() {
        let mut h = room(3);
        let anon = h.connect();
        for kind in [Kind::Text, Kind::Attachment, Kind::QuitRequest] {
            h.request(anon, Message::new(kind).payload("x"));
        }
        h.request(anon, Message::new(Kind::NewUser).user("Ghost"));
        let first = Message::text(SERVER, JOIN_FIRST);
        assert_eq!(
            take(&mut h, anon),
            vec![first.clone(), first.clone(), first]
        );
        assert!(!h.is_closed(anon));
        h.request(anon, Message::new(Kind::ReportRequest));
        assert_eq!(take(&mut h, anon), vec![Message::new(Kind::ReportResponse)]);
    }

    #[test]
    fn report_lists_users_with_their_addresses() {
        let mut h = room(3);
        join(&mut h, "Cool");
        join(&mut h, "Fun");
        let anon = h.connect();
        h.request(anon, Message::new(Kind::ReportRequest));
        let want = Message::new(Kind::ReportResponse)
            .number(2)
            .payload("Cool 127.0.0.1 40001\nFun 127.0.0.1 40002\n");
        assert_eq!(take(&mut h, anon), vec![want]);
    }

    #[test]
    fn quit_and_vanishing_are_announced_alike_and_recorded() {
        let mut h = room(3);
        let cool = join(&mut h, "Cool");
        let fun = join(&mut h, "Fun");
        let fire = join(&mut h, "Fire");
        h.request(cool, Message::text("", ""));
        for id in [cool, fun, fire] {
            take(&mut h, id);
        }
        let left = |name: &str| {
            Message::new(Kind::QuitAccept)
                .user(name)
                .at("12:00:00")
                .payload(format!("{name} left the chatroom."))
        };
        h.request(fire, Message::new(Kind::QuitRequest));
        assert_eq!(take(&mut h, fire), vec![left("Fire")]);
        assert!(h.is_closed(fire));
        assert_eq!(take(&mut h, cool), vec![left("Fire")]);
        h.hang_up(fun);
        assert_eq!(take(&mut h, cool), vec![left("Fun")]);
        let again = join(&mut h, "Fire");
        let history = take(&mut h, again).remove(0).payload;
        assert_eq!(
            String::from_utf8(history).unwrap(),
            "[12:00:00] Server: Cool joined the chatroom.\n\
             [12:00:00] Server: Fun joined the chatroom.\n\
             [12:00:00] Server: Fire joined the chatroom.\n\
             [12:00:00] Server: Fire left the chatroom.\n\
             [12:00:00] Server: Fun left the chatroom.\n"
        );
    }

    #[test]
    fn attachments_are_stored_relayed_and_recorded() {
        let mut h = room(3);
        let downloads = h.dispatcher.dialect.config.downloads.clone();
        let cool = join(&mut h, "Cool");
        let fun = join(&mut h, "Fun");
        take(&mut h, cool);
        take(&mut h, fun);
        let up = |name: &str, bytes: &[u8]| {
            Message::new(Kind::Attachment)
                .file(name)
                .payload(bytes.to_vec())
        };
        h.request(cool, up("attachments/../note.txt", b"line one\n"));
        h.request(cool, up("/x/note.txt", b"\xff\xfe"));
        let relayed = |name: &str, bytes: &[u8]| {
            Message::new(Kind::Attachment)
                .user("Cool")
                .file(name)
                .at("12:00:00")
                .payload(bytes.to_vec())
        };
        let want = vec![
            relayed("note.txt", b"line one\n"),
            relayed("note-2.txt", b"\xff\xfe"),
        ];
        assert_eq!(take(&mut h, fun), want);
        assert_eq!(take(&mut h, cool), want);
        assert_eq!(
            std::fs::read(downloads.join("note.txt")).unwrap(),
            b"line one\n"
        );
        assert_eq!(
            std::fs::read(downloads.join("note-2.txt")).unwrap(),
            b"\xff\xfe"
        );
        assert!(h.dispatcher.dialect.history.contents().ends_with(
            b"[12:00:00] Cool: line one\n[12:00:00] Cool: Cool sent note-2.txt (2 bytes)\n"
        ));
        let _ = std::fs::remove_dir_all(downloads.parent().unwrap());
    }

    #[test]
    fn while_an_upload_waits_for_the_disk_later_broadcasts_wait_behind_it() {
        let (mut h, cool, fun) = cool_and_fun();
        let downloads = h.dispatcher.dialect.config.downloads.clone();
        h.stalled = true;
        let upload = Message::new(Kind::Attachment)
            .file("a.txt")
            .payload(b"file".to_vec());
        h.request(cool, upload);
        h.request(fun, Message::text("Fun", "after"));
        // Nothing goes out for the room while the disk is stalled...
        assert_eq!(take(&mut h, cool), vec![]);
        assert_eq!(take(&mut h, fun), vec![]);
        // ...but replies to one client do.
        h.request(fun, Message::new(Kind::ReportRequest));
        assert_eq!(take(&mut h, fun)[0].kind, Kind::ReportResponse);
        let sun = join(&mut h, "Sun");
        let history = "[12:00:00] Server: Cool joined the chatroom.\n\
                       [12:00:00] Server: Fun joined the chatroom.\n";
        assert_eq!(
            take(&mut h, sun),
            vec![Message::new(Kind::JoinAccept).user("Sun").payload(history)]
        );
        // The disk catches up: everything goes out in the order it came.
        h.run_disk();
        let relayed = Message::new(Kind::Attachment)
            .user("Cool")
            .file("a.txt")
            .at("12:00:00")
            .payload(b"file".to_vec());
        let want = vec![
            relayed,
            Message::text("Fun", "after").at("12:00:00"),
            new_user("Sun"),
        ];
        for id in [cool, fun, sun] {
            assert_eq!(take(&mut h, id), want);
        }
        assert!(h.dispatcher.dialect.history.contents().ends_with(
            b"[12:00:00] Cool: file\n[12:00:00] Fun: after\n\
              [12:00:00] Server: Sun joined the chatroom.\n"
        ));
        assert!(h.dispatcher.dialect.waiting.is_empty());
        let _ = std::fs::remove_dir_all(downloads.parent().unwrap());
    }

    /// What `drain` is sent, waited for (bounded) until it is `n` messages.
    fn next_messages(drain: &crate::outbox::Drain, n: usize) -> Vec<Message> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut bytes = Vec::new();
        loop {
            bytes.extend(drain.take_now());
            let mut decoder = MessageDecoder::new(u64::MAX);
            let (mut rest, mut out) = (&bytes[..], Vec::new());
            while let Ok(Decoded::Item(message, used)) = decoder.decode(rest) {
                out.push(message);
                rest = &rest[used..];
            }
            if out.len() >= n || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn an_uploader_is_read_again_once_its_stalled_upload_is_relayed() {
        use crate::conns::Conn;
        use crate::dispatch::{Dispatcher, Event};
        use std::time::Duration;
        let dir = files::tests::scratch("stalled-upload");
        std::fs::create_dir_all(&dir).unwrap();
        let room = Room::open(Config {
            max_users: 3,
            downloads: dir.join("downloads"),
            max_attachment: 1 << 20,
            history: Some(dir.join("history.txt")),
            join_history: 1 << 20,
        })
        .unwrap();
        // The test is the disk thread: it runs each job when it chooses.
        let (jobs, disk) = crossbeam_channel::bounded(crate::disk::JOBS);
        let (events, inbox) = crossbeam_channel::bounded(16);
        let dispatcher = Dispatcher::with_jobs(room, Conns::new(None), jobs);
        let running = std::thread::spawn(move || dispatcher.run(inbox));
        let connect = |n: u64, name: &str| {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 40000 + n as u16));
            let (conn, drain, answers) = Conn::detached_with_answers(n as i32, addr, 1 << 20);
            events.send(Event::Connected(ConnId(n), conn)).unwrap();
            let join = Message::new(Kind::JoinRequest).user(name);
            events.send(Event::Request(ConnId(n), join)).unwrap();
            assert_eq!(answers.recv_timeout(Duration::from_secs(10)), Ok(true));
            (drain, answers)
        };
        let (cool, cool_answers) = connect(1, "Cool");
        let (fun, _) = connect(2, "Fun");
        for _ in 0..2 {
            disk.recv().unwrap()(); // the two joins' history entries
        }
        assert_eq!(next_messages(&cool, 3).len(), 3);
        // Fun joined while Cool's NEW_USER waited for its entry: Fun hears
        // it live (its JOIN_ACCEPT's history does not have it).
        assert_eq!(next_messages(&fun, 3).len(), 3);
        let upload = Message::new(Kind::Attachment)
            .file("a.txt")
            .payload(b"file".to_vec());
        events.send(Event::Request(ConnId(1), upload)).unwrap();
        // Fun is answered while Cool's upload waits for the disk, and
        // Cool's reader is not told to go on.
        events
            .send(Event::Request(ConnId(2), Message::new(Kind::ReportRequest)))
            .unwrap();
        assert_eq!(next_messages(&fun, 1)[0].kind, Kind::ReportResponse);
        assert!(cool_answers.try_recv().is_err());
        assert!(cool.take_now().is_empty());
        // The stall ends: the attachment is relayed and its history entry
        // written, and Cool's reader goes on.
        disk.recv().unwrap()();
        assert_eq!(next_messages(&cool, 1)[0].kind, Kind::Attachment);
        assert_eq!(cool_answers.recv_timeout(Duration::from_secs(10)), Ok(true));
        assert_eq!(next_messages(&fun, 1)[0].kind, Kind::Attachment);
        events.send(Event::Shutdown).unwrap();
        for job in disk {
            job();
        }
        running.join().unwrap();
        let history = std::fs::read_to_string(dir.join("history.txt")).unwrap();
        assert!(history.ends_with("] Cool: file\n"), "{history}");
        assert_eq!(std::fs::read(dir.join("downloads/a.txt")).unwrap(), b"file");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn join_accept_carries_at_most_join_history_bytes() {
        let limit = 200_000;
        let mut h = room_with_history(3, limit);
        let cool = join(&mut h, "Cool");
        for n in 0..50u8 {
            h.request(cool, Message::text("Cool", vec![b'a' + n % 26; 65_536]));
            take(&mut h, cool);
        }
        let fun = join(&mut h, "Fun");
        let accept = take(&mut h, fun).remove(0);
        assert_eq!(accept.kind, Kind::JoinAccept);
        let history = String::from_utf8(accept.payload).unwrap();
        assert!(history.len() <= limit, "{} bytes", history.len());
        // Three 64 KiB entries fit in 200,000 bytes after the note.
        assert!(
            history.starts_with("[12:00:00] Server: 48 earlier messages are not shown.\n"),
            "{}",
            &history[..80]
        );
        assert_eq!(history.lines().count(), 4);
        assert!(h.dispatcher.dialect.history.contents().len() <= limit);
    }

    #[test]
    fn a_text_too_long_is_refused_and_not_relayed() {
        let (mut h, cool, fun) = cool_and_fun();
        let long = Message {
            dropped: 70_000,
            ..Message::text("Cool", "")
        };
        h.request(cool, long);
        assert_eq!(
            take(&mut h, cool),
            vec![Message::text(SERVER, TEXT_TOO_LONG)]
        );
        assert_eq!(take(&mut h, fun), vec![]);
        assert!(!h.is_closed(cool));
        assert!(!h.dispatcher.dialect.history.contents().ends_with(b": \n"));
    }

    #[test]
    fn malformed_input_gets_a_server_text() {
        let (mut h, cool, fun) = cool_and_fun();
        h.dispatcher.handle(crate::dispatch::Event::Malformed(
            fun,
            Malformed::UnknownField("X".into()),
        ));
        assert_eq!(
            take(&mut h, fun),
            vec![Message::text(SERVER, "Malformed message: unknown field X")]
        );
        assert!(h.is_closed(fun));
        let left = Message::new(Kind::QuitAccept)
            .user("Fun")
            .at("12:00:00")
            .payload("Fun left the chatroom.");
        assert_eq!(take(&mut h, cool), vec![left]);
    }
}

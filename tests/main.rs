//! End-to-end tests: the real `chat-server` and `chat-client` binaries over
//! real loopback sockets, compared byte for byte, for what only our
//! programs show (the wire rules are `chat-check` cases, run by
//! `check.rs`). One module per area (abuse, durability, hostile peers, the
//! pseudo-terminal, the recipes); [`util`] holds the shared helpers.

mod abuse;
mod abuse_storage;
mod bins;
mod core;
mod durability;
mod fake;
mod hostile_clients;
mod hostile_peers;
mod pty;
mod pty_rb;
mod recipes;
mod soak;
mod util;

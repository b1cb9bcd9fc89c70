//! Each door's own encoding of an event. An [`Envelope`](crate::realtime::Envelope) is shared
//! by every session that receives it; the first session of a door to send it encodes it and
//! leaves the result in that door's slot, for every other session of the same door. Slots are
//! per door, so one door never finds (or has to replace) another door's encoding.

use std::any::Any;
use std::sync::OnceLock;

/// A door that encodes events for its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Door {
    /// The WebSocket gateway (JSON text frames).
    WebSocket,
    /// The XMPP door (stanzas), when it lands.
    Xmpp,
}

impl Door {
    const fn slot(self) -> usize {
        match self {
            Door::WebSocket => 0,
            Door::Xmpp => 1,
        }
    }
}

/// One encoding slot per [`Door`].
#[derive(Default)]
pub struct Encodings {
    slots: [OnceLock<Box<dyn Any + Send + Sync>>; 2],
}

impl Encodings {
    pub const fn new() -> Self {
        Encodings {
            slots: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// `door`'s encoding, made by `encode` if this is the first time the door asks. `None`
    /// only when the door stored a value of another type earlier (a bug in that door): the
    /// caller then encodes afresh.
    pub fn get_or_init<T: Any + Send + Sync>(
        &self,
        door: Door,
        encode: impl FnOnce() -> T,
    ) -> Option<&T> {
        self.slots[door.slot()]
            .get_or_init(|| Box::new(encode()))
            .downcast_ref::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_door_encodes_once_into_its_own_slot() {
        let e = Encodings::new();
        let mut calls = 0;
        let ws = e.get_or_init(Door::WebSocket, || {
            calls += 1;
            String::from("{\"type\":\"message.created\"}")
        });
        assert_eq!(
            ws.map(String::as_str),
            Some("{\"type\":\"message.created\"}")
        );
        // Another door keeps its own encoding, of its own type.
        let xmpp = e.get_or_init(Door::Xmpp, || b"<message/>".to_vec());
        assert_eq!(xmpp.map(Vec::as_slice), Some(&b"<message/>"[..]));
        // The first door's encoding is reused, not made again.
        let again = e.get_or_init(Door::WebSocket, || {
            calls += 1;
            String::new()
        });
        assert_eq!(again.map(String::len), Some(26));
        assert_eq!(calls, 1);
    }
}

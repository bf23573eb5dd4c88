//! A core's part of a graceful shutdown: which connections are idle, and what to do with them
//! once the drain begins.
//!
//! Each connection registers for its life (an insert and a remove per connection, none per
//! request) and flags itself idle while it waits for the first byte of a next request head
//! (a `Cell` write). When the drain begins, idle connections have their read side shut down
//! (`shutdown(SHUT_RD)`): their pending read ends with end-of-stream and they close, without
//! a per-request waker. A request whose head arrives anyway on such a connection (it raced
//! the drain), or on a connection accepted from the backlog after the drain began, is refused
//! with 503 SlowDown (retryable) and the connection closed. Requests already being read or
//! served complete, and their answers say `Connection: close`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::rc::Rc;

/// One connection as the drain sees it.
pub(crate) struct Presence {
    fd: RawFd,
    /// Waiting for the first byte of a request head, with nothing buffered.
    idle: Cell<bool>,
    /// Refuse the next request: the drain began while this connection was idle, or before it
    /// was accepted.
    refuse: Cell<bool>,
}

impl Presence {
    pub(crate) fn set_idle(&self, idle: bool) {
        self.idle.set(idle);
    }

    pub(crate) fn refuses_requests(&self) -> bool {
        self.refuse.get()
    }
}

#[derive(Default)]
pub(crate) struct Drain {
    draining: Cell<bool>,
    next_id: Cell<u64>,
    connections: RefCell<HashMap<u64, Rc<Presence>>>,
}

/// A connection's registration; dropping it unregisters.
pub(crate) struct Registration {
    drain: Rc<Drain>,
    id: u64,
    pub(crate) presence: Rc<Presence>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.drain.connections.borrow_mut().remove(&self.id);
    }
}

impl Drain {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Registers a connection on socket `fd` (accepted after the drain began: it refuses).
    pub(crate) fn register(self: &Rc<Self>, fd: RawFd) -> Registration {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let presence = Rc::new(Presence { fd, idle: Cell::new(false), refuse: Cell::new(self.draining.get()) });
        self.connections.borrow_mut().insert(id, presence.clone());
        Registration { drain: self.clone(), id, presence }
    }

    /// Begins the drain: idle connections end, every later request head is refused.
    /// Returns how many idle connections were shut.
    pub(crate) fn begin(&self) -> usize {
        self.draining.set(true);
        let mut shut = 0;
        for presence in self.connections.borrow().values() {
            // A connection reading a head (or serving a request) goes on: that request
            // completes, and its answer closes the connection.
            if presence.idle.get() {
                presence.refuse.set(true);
                // The pending read returns end-of-stream. An error (the peer already went)
                // needs nothing more: that read ends too.
                let _ = nix::sys::socket::shutdown(presence.fd, nix::sys::socket::Shutdown::Read);
                shut += 1;
            }
        }
        shut
    }
}

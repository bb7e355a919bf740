//! A PostgreSQL session that `LISTEN`s, for the notifications that wake
//! the event log's readers across instances (src/live/listen.rs).
//!
//! diesel can read a connection's pending notifications but not wait for
//! one (it does not expose the socket), so this opens its own session
//! through libpq, the library diesel's connections already use: the same
//! `DATABASE_URL` means the same host, TLS and authentication settings. It
//! is blocking; its owner runs it on a thread of its own.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::time::Duration;

use pq_sys::{
    ConnStatusType, ExecStatusType, PGconn, PQclear, PQconnectdb, PQconsumeInput, PQerrorMessage, PQexec,
    PQfinish, PQfreemem, PQnotifies, PQresultStatus, PQsetNoticeProcessor, PQsocket, PQstatus,
};

/// A notification: its channel and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// One libpq session. Not `Send`: it lives and dies on the thread that
/// opened it.
pub struct Listener {
    conn: NonNull<PGconn>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: `conn` came from PQconnectdb and is finished only here.
        unsafe { PQfinish(self.conn.as_ptr()) }
    }
}

impl Listener {
    /// Connects (blocking) to the database `url` names.
    pub fn connect(url: &str) -> Result<Listener, String> {
        let conninfo = CString::new(url).map_err(|_| "the database URL holds a NUL byte".to_owned())?;
        // SAFETY: a valid C string; libpq copies what it keeps.
        let raw = unsafe { PQconnectdb(conninfo.as_ptr()) };
        let conn = NonNull::new(raw).ok_or_else(|| "libpq could not allocate a connection".to_owned())?;
        // Owned from here: dropped (PQfinish) on every path below.
        let listener = Listener { conn };
        // SAFETY: a live connection.
        if unsafe { PQstatus(listener.conn.as_ptr()) } != ConnStatusType::CONNECTION_OK {
            return Err(listener.error());
        }
        // libpq prints notices (a server shutting the session down, say) to
        // stderr by default; the errors that matter come back from `wait`.
        // SAFETY: a live connection and a function that ignores its input.
        unsafe { PQsetNoticeProcessor(listener.conn.as_ptr(), Some(ignore_notice), std::ptr::null_mut()) };
        Ok(listener)
    }

    /// Runs `LISTEN channel` (a plain identifier).
    pub fn listen(&mut self, channel: &str) -> Result<(), String> {
        assert!(channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "a plain channel name");
        let sql = CString::new(format!("LISTEN {channel}")).expect("no NUL");
        // SAFETY: a live connection and a valid C string; the result is
        // cleared before returning.
        unsafe {
            let result = PQexec(self.conn.as_ptr(), sql.as_ptr());
            let ok = !result.is_null() && PQresultStatus(result) == ExecStatusType::PGRES_COMMAND_OK;
            PQclear(result);
            if ok { Ok(()) } else { Err(self.error()) }
        }
    }

    /// Waits up to `timeout` for notifications; returns those that came
    /// (none on a timeout). An error means the session is gone: open
    /// another.
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Notification>, String> {
        let pending = self.drain()?;
        if !pending.is_empty() {
            return Ok(pending);
        }
        // SAFETY: a live connection.
        let fd = unsafe { PQsocket(self.conn.as_ptr()) };
        if fd < 0 {
            return Err("the session has no socket".into());
        }
        let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            return if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(Vec::new())
            } else {
                Err(e.to_string())
            };
        }
        if ready == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: a live connection; the socket is readable, so this
        // does not block.
        if unsafe { PQconsumeInput(self.conn.as_ptr()) } == 0 {
            return Err(self.error());
        }
        self.drain()
    }

    /// The notifications libpq has already read.
    fn drain(&mut self) -> Result<Vec<Notification>, String> {
        let mut out = Vec::new();
        loop {
            // SAFETY: a live connection; each notification is copied, then
            // freed with PQfreemem as libpq asks.
            unsafe {
                let n = PQnotifies(self.conn.as_ptr());
                if n.is_null() {
                    break;
                }
                let channel = CStr::from_ptr((*n).relname).to_string_lossy().into_owned();
                let payload = CStr::from_ptr((*n).extra).to_string_lossy().into_owned();
                PQfreemem(n.cast());
                out.push(Notification { channel, payload });
            }
        }
        // SAFETY: a live connection.
        if unsafe { PQstatus(self.conn.as_ptr()) } != ConnStatusType::CONNECTION_OK {
            return Err(self.error());
        }
        Ok(out)
    }

    /// libpq's message for the last failure, one line.
    fn error(&self) -> String {
        // SAFETY: a live connection; the message is owned by it and copied.
        let message = unsafe { CStr::from_ptr(PQerrorMessage(self.conn.as_ptr())) };
        message.to_string_lossy().trim().to_owned()
    }
}

extern "C" fn ignore_notice(_: *mut std::ffi::c_void, _: *const std::ffi::c_char) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_address_is_an_error_not_a_crash() {
        let err = Listener::connect("postgres://nobody@127.0.0.1:1/none?connect_timeout=2").err();
        assert!(err.is_some_and(|e| !e.is_empty()));
    }
}

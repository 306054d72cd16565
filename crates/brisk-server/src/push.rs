//! Response bodies pushed from any thread: [`BodySender`].
//!
//! The handler asks for a sender ([`RequestCtx::body_sender`]) and returns;
//! the head goes out, and whoever holds the sender (another thread, a
//! timer, a proxy's upstream reader) writes the body. Written bytes wait in
//! a bounded queue shared with the connection; a write that finds it full
//! blocks ([`BodySender::write`]) or returns `WouldBlock`
//! ([`BodySender::try_write`]). The connection takes bytes from the queue
//! only while its own output is under the backpressure bound, so a slow
//! client holds the writer back instead of filling memory; when the queue
//! is empty the connection waits (it is not driven again until a write
//! wakes its loop). A client that goes away is reported to the writer as
//! an error.
//!
//! [`RequestCtx::body_sender`]: crate::RequestCtx::body_sender

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Something that can have a connection driven again: the event loop that
/// owns it (or the in-memory driver in tests).
pub(crate) trait Wake: Send + Sync {
    /// Asks for the connection named by `token` to be driven soon.
    fn wake(&self, token: u64);
}

/// A transformation of a pushed body's bytes, installed with
/// [`RequestCtx::filter_pushed_body`](crate::RequestCtx::filter_pushed_body)
/// (`brisk-handlers`' compression is one). It runs under the queue's lock,
/// on the thread that writes.
pub trait PushFilter: Send {
    /// Filters one write (all of `data`), appending the output to `out`.
    /// Each call is one message of the writer's (an event of a
    /// server-sent-event stream, say): a filter that buffers should
    /// flush it here so that it reaches the client now.
    ///
    /// # Errors
    ///
    /// The write fails with this error and the body is cut short.
    fn write(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()>;

    /// The body ended: appends what the filter still holds.
    ///
    /// # Errors
    ///
    /// The body is cut short (the connection closes without completing it).
    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()>;
}

/// How the body ends, as the writer left it.
#[derive(Debug)]
pub(crate) enum End {
    /// More may come.
    Open,
    /// The writer finished; trailers to send (chunked bodies only).
    Finished(Vec<(Vec<u8>, Vec<u8>)>),
    /// The writer was dropped without finishing: the body is cut short.
    Aborted,
}

/// The queue between a [`BodySender`] and its connection.
pub(crate) struct PushShared {
    state: Mutex<PushState>,
    /// Signalled when the connection takes bytes or goes away.
    space: Condvar,
}

pub(crate) struct PushState {
    /// Written, not yet taken by the connection.
    pub(crate) queued: Vec<u8>,
    /// Most bytes `queued` holds.
    cap: usize,
    pub(crate) end: End,
    /// The connection is gone (closed, or the request was HEAD): writes
    /// fail with `BrokenPipe` (or, for HEAD, are dropped).
    gone: Gone,
    /// The connection found the queue empty and waits to be woken.
    pub(crate) waiting: bool,
    /// Who wakes the connection, once it is serving the body.
    waker: Option<(Arc<dyn Wake>, u64)>,
    /// The declared length (`Content-Length`), if any.
    len: Option<u64>,
    /// Bytes accepted from the writer so far.
    written: u64,
    /// Transforms written bytes before they are queued.
    filter: Option<Box<dyn PushFilter>>,
}

/// Why writes no longer reach a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gone {
    /// They still do.
    No,
    /// The connection closed (the client went away, or an error).
    Closed,
    /// The request was HEAD: the body is not sent; writes are dropped.
    Head,
}

impl PushState {
    /// The declared length (`Content-Length`), if any; none once a filter
    /// changes the bytes (the body is then sent chunked).
    pub(crate) fn declared(&self) -> Option<u64> {
        if self.filter.is_some() {
            return None;
        }
        self.len
    }
}

impl PushShared {
    pub(crate) fn new(cap: usize, len: Option<u64>) -> Arc<PushShared> {
        Arc::new(PushShared {
            state: Mutex::new(PushState {
                queued: Vec::new(),
                cap: cap.max(1),
                end: End::Open,
                gone: Gone::No,
                waiting: false,
                waker: None,
                len,
                written: 0,
                filter: None,
            }),
            space: Condvar::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, PushState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection serves the body now: who wakes it.
    pub(crate) fn bind(&self, waker: Arc<dyn Wake>, token: u64) {
        self.lock().waker = Some((waker, token));
    }

    /// Installs `filter` (see `RequestCtx::filter_pushed_body`): what is
    /// queued is filtered now, and finished if the writer already ended
    /// the body. `false` when the body was already cut short.
    pub(crate) fn set_filter(&self, mut filter: Box<dyn PushFilter>) -> bool {
        let mut st = self.lock();
        if matches!(st.end, End::Aborted) || st.filter.is_some() {
            return false;
        }
        let raw = std::mem::take(&mut st.queued);
        let mut out = Vec::with_capacity(raw.len() / 2 + 64);
        let mut ok = raw.is_empty() || filter.write(&raw, &mut out).is_ok();
        if ok && matches!(st.end, End::Finished(_)) {
            ok = filter.finish(&mut out).is_ok();
        }
        if !ok {
            st.end = End::Aborted;
            return false;
        }
        st.queued = out;
        st.filter = Some(filter);
        true
    }

    /// The connection took bytes out of the queue: writers may go on.
    pub(crate) fn took(&self) {
        self.space.notify_all();
    }

    /// The connection is gone (or will never send the body, for HEAD):
    /// blocked writers return.
    pub(crate) fn gone(&self, head: bool) {
        let mut st = self.lock();
        st.gone = if head { Gone::Head } else { Gone::Closed };
        st.queued = Vec::new();
        st.waker = None;
        drop(st);
        self.space.notify_all();
    }
}

/// Writes a response body from any thread; see
/// [`RequestCtx::body_sender`](crate::RequestCtx::body_sender).
///
/// Writes queue bytes for the connection, which sends them as the client
/// reads. [`write`](Self::write) blocks while the queue is full;
/// [`try_write`](Self::try_write) takes what fits. Both fail with
/// `BrokenPipe` once the client is gone, so a producer learns to stop. End
/// the body with [`finish`](Self::finish) (or
/// [`finish_with_trailers`](Self::finish_with_trailers)); a sender dropped
/// without finishing cuts the body short (the connection closes without
/// completing it, so the client sees it is incomplete).
///
/// For a HEAD request nothing is sent after the head: writes succeed and
/// are dropped.
pub struct BodySender {
    shared: Arc<PushShared>,
    finished: bool,
}

impl std::fmt::Debug for BodySender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("BodySender")
            .field("queued", &st.queued.len())
            .field("written", &st.written)
            .field("len", &st.len)
            .finish()
    }
}

impl BodySender {
    pub(crate) fn new(shared: Arc<PushShared>) -> BodySender {
        BodySender {
            shared,
            finished: false,
        }
    }

    /// Queues all of `data`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` when the client is gone (nothing more will be sent);
    /// `InvalidInput` when the body would pass its declared length (the
    /// write is refused whole).
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        let mut st = self.shared.lock();
        check_len(&st, data.len())?;
        loop {
            let n = queue(&mut st, data)?;
            data = &data[n..];
            if n > 0 {
                st = wake(&self.shared, st);
            }
            if data.is_empty() {
                return Ok(());
            }
            st = self
                .shared
                .space
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Queues as much of `data` as fits without waiting: the count.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing fits (the client has not read enough
    /// yet); `BrokenPipe` and `InvalidInput` as for [`write`](Self::write).
    pub fn try_write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut st = self.shared.lock();
        check_len(&st, data.len())?;
        let n = queue(&mut st, data)?;
        if n == 0 && !data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if n > 0 {
            drop(wake(&self.shared, st));
        }
        Ok(n)
    }

    /// Bytes written and not yet taken by the connection.
    pub fn queued(&self) -> usize {
        self.shared.lock().queued.len()
    }

    /// Whether the client is gone: further writes fail.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().gone == Gone::Closed
    }

    /// Ends the body. With a declared length, every byte must have been
    /// written.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` when the client is gone; `InvalidInput` when fewer
    /// bytes than the declared length were written (the connection then
    /// closes: the client cannot get a complete body).
    pub fn finish(self) -> io::Result<()> {
        self.finish_with_trailers(&[])
    }

    /// Ends a chunked body with trailer fields (`Content-Length` bodies
    /// have no trailers: `InvalidInput` then, as for a name or value that
    /// is not valid in a header).
    ///
    /// # Errors
    ///
    /// As [`finish`](Self::finish), and `InvalidInput` for trailers the
    /// body cannot carry.
    pub fn finish_with_trailers(mut self, trailers: &[(&[u8], &[u8])]) -> io::Result<()> {
        let mut st = self.shared.lock();
        let bad_trailers = !trailers.is_empty()
            && (st.len.is_some()
                || trailers.iter().any(|(n, v)| {
                    !brisk_http::is_valid_header_name(n) || !brisk_http::is_valid_header_value(v)
                }));
        let short = st.len.is_some_and(|l| st.written < l);
        self.finished = true;
        match st.gone {
            Gone::Closed => return Err(io::ErrorKind::BrokenPipe.into()),
            Gone::Head => return Ok(()),
            Gone::No => {}
        }
        let filter_failed = {
            let PushState { filter, queued, .. } = &mut *st;
            match filter {
                Some(f) if !bad_trailers && !short => f.finish(queued).is_err(),
                _ => false,
            }
        };
        if filter_failed {
            st.end = End::Aborted;
            drop(wake(&self.shared, st));
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the body's filter failed to finish; the connection closes",
            ));
        }
        if bad_trailers || short {
            st.end = End::Aborted;
            drop(wake(&self.shared, st));
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                if short {
                    "body ended before its declared Content-Length; the connection closes"
                } else {
                    "trailers need a chunked body and valid field names and values"
                },
            ));
        }
        st.end = End::Finished(
            trailers
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect(),
        );
        drop(wake(&self.shared, st));
        Ok(())
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        if !self.finished {
            let mut st = self.shared.lock();
            if matches!(st.end, End::Open) {
                st.end = End::Aborted;
                drop(wake(&self.shared, st));
            }
        }
    }
}

impl io::Write for BodySender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        BodySender::write(self, data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Refuses a write that would pass the declared length.
fn check_len(st: &PushState, n: usize) -> io::Result<()> {
    match st.len {
        Some(l) if st.written + n as u64 > l => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "write past the body's declared Content-Length",
        )),
        _ => Ok(()),
    }
}

/// Moves what fits of `data` into the queue: the count.
fn queue(st: &mut PushState, data: &[u8]) -> io::Result<usize> {
    match st.gone {
        Gone::Closed => return Err(io::ErrorKind::BrokenPipe.into()),
        Gone::Head => {
            st.written += data.len() as u64;
            return Ok(data.len());
        }
        Gone::No => {}
    }
    if !matches!(st.end, End::Open) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "write after the body ended",
        ));
    }
    let n = data.len().min(st.cap.saturating_sub(st.queued.len()));
    let PushState { filter, queued, .. } = st;
    match filter {
        None => queued.extend_from_slice(&data[..n]),
        Some(f) if n > 0 => {
            if let Err(e) = f.write(&data[..n], queued) {
                st.end = End::Aborted;
                return Err(e);
            }
        }
        Some(_) => {}
    }
    st.written += n as u64;
    Ok(n)
}

/// Wakes the connection if it waits for bytes (the lock is released
/// first: the waker takes the loop's locks).
fn wake<'a>(
    shared: &'a PushShared,
    mut st: MutexGuard<'a, PushState>,
) -> MutexGuard<'a, PushState> {
    if !st.waiting {
        return st;
    }
    st.waiting = false;
    let waker = st.waker.clone();
    drop(st);
    if let Some((w, token)) = waker {
        w.wake(token);
    }
    shared.lock()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper-cases what passes; `finish` appends a marker.
    struct Upper;

    impl PushFilter for Upper {
        fn write(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
            out.extend(data.iter().map(u8::to_ascii_uppercase));
            Ok(())
        }

        fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
            out.extend_from_slice(b"<end>");
            Ok(())
        }
    }

    #[test]
    fn a_filter_takes_what_was_queued_before_it_and_what_comes_after() {
        let shared = PushShared::new(1024, Some(6));
        let mut s = BodySender::new(shared.clone());
        s.write(b"abc").unwrap();
        assert!(shared.set_filter(Box::new(Upper)));
        assert_eq!(shared.lock().declared(), None, "a filtered body is chunked");
        // The declared length still bounds what is written.
        assert!(s.write(b"defg").is_err());
        s.write(b"def").unwrap();
        s.finish().unwrap();
        let st = shared.lock();
        assert_eq!(st.queued, b"ABCDEF<end>");
        assert!(matches!(st.end, End::Finished(_)));
    }

    #[test]
    fn a_filter_set_after_the_body_ended_finishes_it() {
        let shared = PushShared::new(1024, None);
        let mut s = BodySender::new(shared.clone());
        s.write(b"xy").unwrap();
        s.finish().unwrap();
        assert!(shared.set_filter(Box::new(Upper)));
        assert_eq!(shared.lock().queued, b"XY<end>");
        // A second filter is refused: the bytes are already filtered.
        assert!(!shared.set_filter(Box::new(Upper)));
    }

    #[test]
    fn no_filter_on_a_body_cut_short() {
        let shared = PushShared::new(1024, None);
        drop(BodySender::new(shared.clone()));
        assert!(!shared.set_filter(Box::new(Upper)));
    }
}

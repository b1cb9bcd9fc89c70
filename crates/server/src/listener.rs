//! Time-outs of the listener's connections, plain and TLS alike.
//!
//! Three limits keep a connection from holding the server's resources while doing nothing:
//! 1. TLS: the handshake must finish within the header time-out (the TLS acceptor's own timer).
//! 2. A request's header must arrive whole within the header time-out once its first byte has
//!    (hyper's `header_read_timeout`, HTTP/1).
//! 3. Every connection is wrapped in [`IdleStream`], which fails the connection's next read or
//!    write once no byte has moved in either direction for the idle time-out. That covers what
//!    hyper leaves open: a connection that never sends a byte, an idle keep-alive connection,
//!    a request body that stalls, a response the client stopped reading, an HTTP/2 connection,
//!    and an upgraded WebSocket whose peer vanished (a live one is pinged every heartbeat).
//!
//! A connection the server closes [`linger`]s: it sends FIN and drains what the peer still
//! sends for a moment, so the peer reads the server's last answer instead of a reset.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream that fails once it has been silent, both ways, for `idle`.
///
/// Activity only records the time; the timer is re-armed lazily when it fires early, so a busy
/// connection pays one clock read per read or write.
pub struct IdleStream<S> {
    /// `None` only while the stream is being dropped.
    inner: Option<S>,
    idle: Duration,
    last_active: Instant,
    timer: Pin<Box<Sleep>>,
    /// What becomes of the stream when the connection is dropped ([`linger`] for TCP).
    on_drop: fn(S),
    /// Set once the time-out has fired: every later read and write fails too, so a request
    /// whose body stalled gets no answer (the connection just closes).
    expired: bool,
}

impl<S> Drop for IdleStream<S> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            (self.on_drop)(inner);
        }
    }
}

/// Bytes of the peer's unread data discarded, at most, after the server closes a connection.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// How long, at most, a closed connection is drained.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Closes a TCP connection the way the peer can read its last answer: sends FIN, then reads
/// and discards what the peer still sends (bounded by [`LINGER_BYTES`] and [`LINGER_TIME`])
/// before closing. Closing a socket with unread data sends a reset, which makes the peer's
/// kernel drop the answer it has not read yet: the close frame after an oversized WebSocket
/// frame, or the 413 to an upload refused before its end.
pub fn linger(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        if stream.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER_TIME;
        let mut buf = vec![0u8; 16 * 1024];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => return,
            }
        }
    });
}

impl<S> IdleStream<S> {
    pub fn new(inner: S, idle: Duration, on_drop: fn(S)) -> Self {
        let now = Instant::now();
        IdleStream {
            inner: Some(inner),
            idle,
            last_active: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            on_drop,
            expired: false,
        }
    }

    /// Ready once the stream has been silent for `idle`; otherwise registers for the deadline.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last_active + self.idle;
            if deadline <= Instant::now() {
                self.expired = true;
                return Poll::Ready(());
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle")
}

fn gone() -> io::Error {
    io::Error::from(io::ErrorKind::NotConnected)
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if this.expired {
            return Poll::Ready(Err(idle_error()));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(gone()));
        };
        match Pin::new(inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.last_active = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_expired(cx).map(|()| Err(idle_error())),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(Err(idle_error()));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(gone()));
        };
        match Pin::new(inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.last_active = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_expired(cx).map(|()| Err(idle_error())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(Err(idle_error()));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(Err(gone()));
        };
        match Pin::new(inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.last_active = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_expired(cx).map(|()| Err(idle_error())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(S::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_flush(cx),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_shutdown(cx),
            None => Poll::Ready(Err(gone())),
        }
    }
}

/// An `axum_server` acceptor that wraps each accepted connection in an [`IdleStream`] (before
/// TLS, so a stalled handshake counts as silence too) that [`linger`]s when dropped.
#[derive(Debug, Clone, Copy)]
pub struct IdleAcceptor {
    pub idle: Duration,
}

impl<S> axum_server::accept::Accept<tokio::net::TcpStream, S> for IdleAcceptor {
    type Stream = IdleStream<tokio::net::TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        std::future::ready(Ok((IdleStream::new(stream, self.idle, linger), service)))
    }
}

/// The connection time-outs, from `[http]`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
}

/// Applies the header time-out to a server's HTTP/1 settings and wraps its connections.
pub fn configure<A, Acc>(
    mut server: axum_server::Server<A, Acc>,
    timeouts: Timeouts,
) -> axum_server::Server<A, Acc>
where
    A: axum_server::Address,
{
    server
        .http_builder()
        .http1()
        .header_read_timeout(timeouts.header_read);
    server
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_fails_after_idle_and_traffic_postpones_it() {
        let idle = Duration::from_secs(10);
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = IdleStream::new(a, idle, drop);
        let t0 = Instant::now();

        tokio::time::sleep(Duration::from_secs(6)).await;
        b.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        a.read_exact(&mut byte).await.unwrap();

        // Six seconds after start the byte came: the deadline moved to 16 s.
        let err = a.read(&mut byte).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(t0.elapsed(), Duration::from_secs(16));
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_fails_after_idle() {
        let idle = Duration::from_secs(5);
        let (a, _b) = tokio::io::duplex(4);
        let mut a = IdleStream::new(a, idle, drop);
        let t0 = Instant::now();
        let err = a.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }
}

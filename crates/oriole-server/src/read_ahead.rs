//! Reading a connection's bytes in as few system calls as its traffic
//! allows, without giving an idle connection a buffer.
//!
//! The WebSocket library reads into what is left of its frame buffer,
//! which we keep small (see `ws::READ_BUFFER_BYTES`) because every idle
//! connection holds one. Under load a client's frames queue up in the
//! socket, and reading them 512 bytes at a time cost about two thirds of a
//! `recvfrom` per message, an eighth of the runtime thread's time at
//! saturation (docs/benchmarks.md, fourteenth pass). [`ReadAhead`] reads
//! whatever the socket holds, up to [`SCRATCH_BYTES`], into a buffer its
//! thread shares with every connection, hands the caller what fits and
//! keeps the rest until the caller has taken it. The rest lives on the heap
//! only while it is not empty, so a connection with nothing to read holds
//! no more memory than before.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The most bytes one read takes from the socket. A short read tells the
/// runtime the socket is drained (Linux, epoll), so the next read waits for
/// readiness instead of making a system call to learn that. 16 KiB holds
/// about sixty `send` frames of 250 bytes.
pub const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    /// Where reads land before they are handed out: one per thread, since a
    /// read is finished (copied out) before the thread polls anything else.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// A stream whose small reads are served from one larger read (see the
/// module documentation). Writes pass straight through.
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    /// Bytes read and not yet handed out are `ahead[at..]`. Freed as soon
    /// as the last of them is handed out.
    ahead: Vec<u8>,
    at: usize,
}

impl<S> ReadAhead<S> {
    pub fn new(inner: S) -> ReadAhead<S> {
        ReadAhead {
            inner,
            ahead: Vec::new(),
            at: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes read from the stream that the caller has not taken yet.
    pub fn buffered(&self) -> usize {
        self.ahead.len() - self.at
    }

    /// Heap bytes this wrapper holds: zero whenever [`Self::buffered`] is.
    pub fn held_bytes(&self) -> usize {
        self.ahead.capacity()
    }

    /// Hand out what was read ahead, as much as fits in `buf`.
    fn take_ahead(&mut self, buf: &mut ReadBuf<'_>) {
        let n = buf.remaining().min(self.buffered());
        buf.put_slice(&self.ahead[self.at..self.at + n]);
        self.at += n;
        if self.at == self.ahead.len() {
            self.ahead = Vec::new();
            self.at = 0;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buffered() > 0 {
            this.take_ahead(buf);
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= SCRATCH_BYTES {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        SCRATCH.with(|scratch| {
            // Never contended (nothing here polls another `ReadAhead`), but
            // a busy scratch would only mean reading directly.
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            };
            let mut into = ReadBuf::new(&mut scratch[..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut into))?;
            let read = into.filled();
            let n = buf.remaining().min(read.len());
            buf.put_slice(&read[..n]);
            if n < read.len() {
                this.ahead = read[n..].to_vec();
                this.at = 0;
            }
            Poll::Ready(Ok(()))
        })
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The plain-TCP listener as served: every accepted connection without
/// Nagle's algorithm (see [`crate::no_delay`]) and read through
/// [`ReadAhead`].
#[derive(Debug)]
pub struct PlainListener {
    tcp: TcpListener,
}

impl PlainListener {
    pub fn new(tcp: TcpListener) -> PlainListener {
        PlainListener { tcp }
    }
}

impl axum::serve::Listener for PlainListener {
    type Io = ReadAhead<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop for TCP: it retries, and backs off when
        // the process is out of file descriptors.
        let (mut tcp, peer) = axum::serve::Listener::accept(&mut self.tcp).await;
        crate::no_delay(&mut tcp);
        (ReadAhead::new(tcp), peer)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    /// A stream that counts the reads that reach it.
    struct Counted {
        inner: DuplexStream,
        reads: Arc<AtomicUsize>,
    }

    impl AsyncRead for Counted {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
            if polled.is_ready() {
                this.reads.fetch_add(1, Ordering::Relaxed);
            }
            polled
        }
    }

    fn counted(capacity: usize) -> (ReadAhead<Counted>, DuplexStream, Arc<AtomicUsize>) {
        let (near, far) = tokio::io::duplex(capacity);
        let reads = Arc::new(AtomicUsize::new(0));
        let stream = ReadAhead::new(Counted {
            inner: near,
            reads: reads.clone(),
        });
        (stream, far, reads)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn small_reads_of_queued_bytes_take_one_read_and_arrive_in_order() {
        let (mut stream, mut far, reads) = counted(64 * 1024);
        let sent = pattern(5000);
        far.write_all(&sent).await.unwrap();

        let mut got = Vec::new();
        let mut chunk = [0u8; 512];
        while got.len() < sent.len() {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0 && n <= 512);
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, sent);
        assert_eq!(reads.load(Ordering::Relaxed), 1, "one read served them all");
    }

    #[tokio::test]
    async fn a_drained_stream_holds_no_buffer() {
        let (mut stream, mut far, _) = counted(64 * 1024);
        far.write_all(&pattern(1500)).await.unwrap();
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk).await.unwrap();
        assert_eq!(n, 512);
        assert_eq!(stream.buffered(), 988);
        assert!(stream.held_bytes() >= 988);

        let mut rest = [0u8; 2000];
        let n = stream.read(&mut rest).await.unwrap();
        assert_eq!(n, 988, "what was read ahead, and no more");
        assert_eq!(stream.buffered(), 0);
        assert_eq!(stream.held_bytes(), 0);
    }

    #[tokio::test]
    async fn more_than_one_read_holds_arrives_whole() {
        let (mut stream, mut far, reads) = counted(256 * 1024);
        let sent = pattern(3 * SCRATCH_BYTES + 123);
        far.write_all(&sent).await.unwrap();
        drop(far);

        let mut got = Vec::new();
        let mut chunk = [0u8; 700];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, sent, "every byte, in order, then end of stream");
        // Four reads of data and one that saw the end.
        assert_eq!(reads.load(Ordering::Relaxed), 5);
        assert_eq!(stream.held_bytes(), 0);
    }

    #[tokio::test]
    async fn large_reads_go_straight_to_the_stream() {
        let (mut stream, mut far, reads) = counted(64 * 1024);
        let sent = pattern(20_000);
        far.write_all(&sent).await.unwrap();
        let mut big = vec![0u8; SCRATCH_BYTES + 1000];
        let n = stream.read(&mut big).await.unwrap();
        assert_eq!(&big[..n], &sent[..n]);
        assert_eq!(reads.load(Ordering::Relaxed), 1);
        assert_eq!(stream.held_bytes(), 0, "nothing was copied aside");
    }

    #[tokio::test]
    async fn writes_pass_through() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut stream = ReadAhead::new(near);
        stream.write_all(b"hello").await.unwrap();
        stream.flush().await.unwrap();
        let mut got = [0u8; 5];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        use axum::serve::Listener;

        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let mut listener = PlainListener::new(tcp);
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (accepted, peer) = listener.accept().await;
        assert!(accepted.get_ref().nodelay().expect("nodelay"));
        assert!(peer.ip().is_loopback());
    }
}

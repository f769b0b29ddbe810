//! A loopback listening socket that can be shut and reopened on the same port, synchronously:
//! the front door of the simulated Loki and of the TLS terminator.
//!
//! "Loki is down" must look like a dead server to the collector: connection refused for new
//! connections and the end of every open one. Stopping an accept task is not enough, because it
//! closes the socket only when the runtime next polls it, and until then the kernel keeps
//! completing handshakes into the backlog (the client then sees a reset, not a refusal). So the
//! listener lives behind a lock that [`Gate::close`] empties itself, and every accepted
//! connection has a duplicate handle that `close` shuts down in the same call.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// What to do with one accepted connection.
pub(crate) type Handler =
    Arc<dyn Fn(TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A listening socket on `127.0.0.1`, its accept loop and its open connections.
pub(crate) struct Gate {
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

struct Shared {
    addr: SocketAddr,
    runtime: Handle,
    /// `None` while shut.
    listener: Mutex<Option<TcpListener>>,
    /// The accept loop's waker, so reopening wakes a loop that waits on a shut gate.
    waker: Mutex<Option<Waker>>,
    /// A duplicate handle of every open connection, to shut it down from outside its task.
    connections: Mutex<HashMap<u64, std::net::TcpStream>>,
    next_id: AtomicU64,
}

/// Locks, ignoring poisoning: every critical section here leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Gate {
    /// Listens on `127.0.0.1:0` and hands each accepted connection to `handler` in its own task.
    /// Must be called within a Tokio runtime (an error otherwise).
    pub(crate) fn bind(handler: Handler) -> io::Result<Self> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _entered = runtime.enter();
            into_tokio(std_listener)?
        };
        let shared = Arc::new(Shared {
            addr,
            runtime: runtime.clone(),
            listener: Mutex::new(Some(listener)),
            waker: Mutex::new(None),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let accept_loop = runtime.spawn(accept_loop(shared.clone(), handler));
        Ok(Self {
            shared,
            accept_loop,
        })
    }

    /// The address, the same for the gate's whole life.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Whether the gate accepts connections.
    pub(crate) fn is_open(&self) -> bool {
        lock(&self.shared.listener).is_some()
    }

    /// Stops listening (new connections are refused from now on) and shuts every open
    /// connection down (their peers read end-of-stream). Idempotent.
    pub(crate) fn close(&self) {
        // Taking the listener under the lock also waits for a connection being accepted right
        // now to be registered, so it is shut down below with the others.
        drop(lock(&self.shared.listener).take());
        for connection in lock(&self.shared.connections).values() {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port. Idempotent.
    pub(crate) fn open(&self) -> io::Result<()> {
        let mut listener = lock(&self.shared.listener);
        if listener.is_none() {
            // std binds with SO_REUSEADDR on Unix, so the port's TIME_WAIT connections from
            // before the close do not block the rebind.
            let std_listener = std::net::TcpListener::bind(self.shared.addr)?;
            let _entered = self.shared.runtime.enter();
            *listener = Some(into_tokio(std_listener)?);
        }
        drop(listener);
        if let Some(waker) = lock(&self.shared.waker).take() {
            waker.wake();
        }
        Ok(())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.close();
        self.accept_loop.abort();
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("addr", &self.shared.addr)
            .field("open", &self.is_open())
            .field("connections", &lock(&self.shared.connections).len())
            .finish()
    }
}

fn into_tokio(listener: std::net::TcpListener) -> io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

impl Shared {
    /// Accepts the next connection and registers it; pending while the gate is shut.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(u64, TcpStream)>> {
        let listener = lock(&self.listener);
        // Stored on every poll: once the listener is dropped its own registration of this
        // waker is gone, and only this copy lets `open` wake the loop.
        *lock(&self.waker) = Some(cx.waker().clone());
        let Some(listener) = listener.as_ref() else {
            return Poll::Pending;
        };
        let (stream, _peer) = match listener.poll_accept(cx) {
            Poll::Ready(Ok(accepted)) => accepted,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(self.register(stream))
    }

    /// Keeps a duplicate handle of `stream` for [`Gate::close`].
    fn register(&self, stream: TcpStream) -> io::Result<(u64, TcpStream)> {
        let std_stream = stream.into_std()?;
        let duplicate = std_stream.try_clone()?;
        let stream = TcpStream::from_std(std_stream)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.connections).insert(id, duplicate);
        Ok((id, stream))
    }
}

/// Removes a connection's duplicate handle when its task ends, also when it is aborted.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.shared.connections).remove(&self.id);
    }
}

async fn accept_loop(shared: Arc<Shared>, handler: Handler) {
    loop {
        match poll_fn(|cx| shared.poll_accept(cx)).await {
            Ok((id, stream)) => {
                let registered = Registered {
                    shared: shared.clone(),
                    id,
                };
                let serve = handler(stream);
                tokio::spawn(async move {
                    let _registered = registered;
                    serve.await;
                });
            }
            // Out of file descriptors and the like: wait instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A gate whose handler echoes.
    fn echo_gate() -> Gate {
        Gate::bind(Arc::new(|mut stream: TcpStream| {
            Box::pin(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            })
        }))
        .unwrap()
    }

    async fn echo(addr: SocketAddr) -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"ping").await?;
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn close_refuses_at_once_and_open_serves_again_on_the_same_port() {
        let gate = echo_gate();
        assert_eq!(echo(gate.addr()).await.unwrap(), b"ping");

        gate.close();
        // No yield between close and connect: the refusal must not depend on the accept loop.
        let err = TcpStream::connect(gate.addr()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(!gate.is_open());

        gate.open().unwrap();
        assert_eq!(echo(gate.addr()).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn close_ends_open_connections() {
        let gate = echo_gate();
        let mut stream = TcpStream::connect(gate.addr()).await.unwrap();
        stream.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).await.unwrap();

        gate.close();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .unwrap();
        // End of stream (or a reset): either way the connection is over.
        assert!(read.map(|n| n == 0).unwrap_or(true));
    }

    #[tokio::test]
    async fn drop_refuses() {
        let gate = echo_gate();
        let addr = gate.addr();
        drop(gate);
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }
}

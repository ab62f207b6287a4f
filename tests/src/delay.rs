//! One-way delay between validators without kernel support: a loopback TCP relay in front of a
//! validator's p2p listener that holds every chunk of bytes, in each direction, for a fixed time
//! before passing it on. Validators dial their peers through the relays
//! ([`crate::cluster::Cluster::route_peers_via`]); clients keep talking to the RPC ports directly,
//! so only validator <-> validator traffic is delayed and nothing else on the machine is touched.
//!
//! (tc's netem would do the same per packet, but kernels built without `sch_netem` exist; this
//! needs neither root nor a kernel module, and stops with the process.)

use anyhow::{bail, Result};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
    sync::mpsc,
    task::JoinHandle,
};

/// Chunks in flight per direction before the reader waits (bounds memory, not throughput at the
/// loads the benchmark offers: 64 KiB chunks x 4096 is far above a 50 ms bandwidth-delay product).
const IN_FLIGHT_CHUNKS: usize = 4096;

/// A relay listening on a loopback port, forwarding to `upstream` with `delay` each way.
/// Dropping it closes the listener and every relayed connection.
pub struct DelayRelay {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
    pub delay: Duration,
    counters: Arc<Counters>,
    acceptor: JoinHandle<()>,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    bytes: AtomicU64,
}

impl DelayRelay {
    pub async fn start(upstream: SocketAddr, delay: Duration) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let acceptor = {
            let counters = counters.clone();
            tokio::spawn(async move {
                // Connection tasks live in the set, so dropping the relay aborts them too.
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((inbound, _)) = accepted else { continue };
                            counters.connections.fetch_add(1, Ordering::Relaxed);
                            connections.spawn(relay(inbound, upstream, delay, counters.clone()));
                        }
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
            })
        };
        Ok(Self {
            listen,
            upstream,
            delay,
            counters,
            acceptor,
        })
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Bytes relayed so far (both directions).
    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn relay(inbound: TcpStream, upstream: SocketAddr, delay: Duration, counters: Arc<Counters>) {
    let Ok(outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    // The delay is the point; Nagle's algorithm would add its own on top.
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    tokio::join!(
        pipe(in_read, out_write, delay, &counters),
        pipe(out_read, in_write, delay, &counters),
    );
}

/// Copies `from` to `to`, each chunk written `delay` after it was read. EOF or an error on
/// either side ends this direction (and shuts `to` down, so the other end sees it).
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    delay: Duration,
    counters: &Counters,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT_CHUNKS);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// Round trips of one byte through a relay in front of a local echo server: checks that the
/// relay delays each direction by its `delay` (a round trip should take about twice it).
/// Returns the round-trip times.
pub async fn echo_round_trips(delay: Duration, rounds: usize) -> Result<Vec<Duration>> {
    let echo = TcpListener::bind("127.0.0.1:0").await?;
    let echo_addr = echo.local_addr()?;
    let server = tokio::spawn(async move {
        if let Ok((mut socket, _)) = echo.accept().await {
            let _ = socket.set_nodelay(true);
            let mut byte = [0u8; 1];
            while socket.read_exact(&mut byte).await.is_ok() {
                if socket.write_all(&byte).await.is_err() {
                    break;
                }
            }
        }
    });
    let relay = DelayRelay::start(echo_addr, delay).await?;
    let mut client = TcpStream::connect(relay.listen).await?;
    client.set_nodelay(true)?;
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let at = Instant::now();
        client.write_all(&[round as u8]).await?;
        let mut byte = [0u8; 1];
        client.read_exact(&mut byte).await?;
        if byte[0] != round as u8 {
            bail!("echo through the relay returned {} for {round}", byte[0]);
        }
        times.push(at.elapsed());
    }
    server.abort();
    Ok(times)
}

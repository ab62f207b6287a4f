//! Loopback TCP relays in front of validators' p2p listeners, with two knobs: a one-way delay
//! (every chunk of bytes is held for a fixed time in each direction before it is passed on; the
//! benchmark's delayed runs) and a cut switch (bytes are swallowed silently, as over a dead link;
//! the chaos test's partitions). Validators dial their peers through relays
//! ([`crate::cluster::Cluster::route_peers`], [`crate::cometbft::CometNet::route_peers`]);
//! clients keep talking to the RPC ports directly, so only validator <-> validator traffic is
//! touched, and nothing else on the machine.
//!
//! Why relays rather than tc's netem, network namespaces or packet filters: they need no root,
//! no kernel module (kernels built without `sch_netem` exist), no system package and no global
//! state (nothing can leak if the test is killed, everything stops with the process), and they
//! act on exactly the validator-to-validator traffic. The source address the nodes see stays
//! 127.0.0.1, which is what their authenticated p2p expects of a peer registered at 127.0.0.1.

use anyhow::{bail, Result};
use std::{
    future::pending,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
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
    sync::{mpsc, watch},
    task::{JoinHandle, JoinSet},
};

/// Chunks in flight per direction before the reader waits (bounds memory, not throughput at the
/// loads the benchmark offers: 64 KiB chunks x 4096 is far above a 50 ms bandwidth-delay product).
const IN_FLIGHT_CHUNKS: usize = 4096;

/// A relay listening on a loopback port, forwarding each connection to `upstream`. Dropping it
/// closes the listener and every relayed connection.
pub struct Relay {
    pub listen: SocketAddr,
    pub upstream: SocketAddr,
    /// How long each chunk is held, in each direction.
    pub delay: Duration,
    cut: watch::Sender<bool>,
    counters: Arc<Counters>,
    acceptor: JoinHandle<()>,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    bytes: AtomicU64,
}

impl Relay {
    /// Binds a relay on 127.0.0.1 that holds every chunk `delay` in each direction (zero: passes
    /// it on at once). Must run in a tokio runtime, which then carries the traffic.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let listen = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let (cut, cut_watch) = watch::channel(false);
        let acceptor = tokio::spawn(accept(
            listener,
            upstream,
            delay,
            cut_watch,
            counters.clone(),
        ));
        Ok(Self {
            listen,
            upstream,
            delay,
            cut,
            counters,
            acceptor,
        })
    }

    /// Cuts the link: from now on every byte either way is swallowed, and the connections stay
    /// open (the nodes do not learn of the cut from a reset). A connection accepted while cut is
    /// not passed upstream: its dial is never answered.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Ends a cut: connections that lost bytes are closed (what they carry is no longer a
    /// stream), so the nodes dial again; the others go on.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Bytes received so far (both directions), passed on or swallowed.
    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    delay: Duration,
    cut: watch::Receiver<bool>,
    counters: Arc<Counters>,
) {
    // Connection tasks live in the set, so stopping the relay aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                counters.connections.fetch_add(1, Ordering::Relaxed);
                connections.spawn(relay(inbound, upstream, delay, cut.clone(), counters.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What the two directions of one connection share.
struct Link<'a> {
    delay: Duration,
    cut: watch::Receiver<bool>,
    /// Set once a byte of this connection was swallowed by a cut.
    lost: AtomicBool,
    counters: &'a Counters,
}

impl Link<'_> {
    /// Whether a chunk due now may pass; one that may not is lost with the whole connection.
    fn passes(&self) -> bool {
        // The flag is set while the cut is read: `restore` waits for that read to end, so the
        // wake-up of `until_restored_after_loss` always sees a loss made under the cut.
        let cut = self.cut.borrow();
        if *cut {
            self.lost.store(true, Ordering::Relaxed);
        }
        !*cut && !self.lost.load(Ordering::Relaxed)
    }
}

/// Forwards one connection both ways until each side has closed it, or until the link is
/// restored after a cut that lost some of its bytes.
async fn relay(
    inbound: TcpStream,
    upstream: SocketAddr,
    delay: Duration,
    cut: watch::Receiver<bool>,
    counters: Arc<Counters>,
) {
    let link = Link {
        delay,
        cut,
        lost: AtomicBool::new(false),
        counters: &counters,
    };
    // The delay (or its absence) is the point; Nagle's algorithm would add its own on top.
    let _ = inbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let outbound = if link.passes() {
        TcpStream::connect(upstream).await.ok()
    } else {
        None
    };
    let forwarding = async {
        match outbound {
            Some(outbound) => {
                let _ = outbound.set_nodelay(true);
                let (out_read, out_write) = outbound.into_split();
                tokio::join!(
                    pipe(in_read, Some(out_write), &link),
                    pipe(out_read, Some(in_write), &link),
                );
            }
            // Across a cut: a dial that is never answered.
            None if link.lost.load(Ordering::Relaxed) => pipe(in_read, None, &link).await,
            // The validator is down: the dial is refused at once, as it would be without the
            // relay.
            None => {}
        }
    };
    tokio::select! {
        _ = forwarding => {}
        _ = until_restored_after_loss(link.cut.clone(), &link.lost) => {}
    }
}

/// Returns once the link is not cut and the connection lost bytes.
async fn until_restored_after_loss(mut cut: watch::Receiver<bool>, lost: &AtomicBool) {
    loop {
        if !*cut.borrow_and_update() && lost.load(Ordering::Relaxed) {
            return;
        }
        if cut.changed().await.is_err() {
            // The relay is being dropped, which ends this connection anyway.
            pending::<()>().await;
        }
    }
}

/// Copies `from` to `to` (none: swallows), each chunk passed on `delay` after it was read unless
/// the link is cut by then. EOF or an error on either side ends this direction and shuts `to`
/// down once what was read before is passed on, so the other end sees it.
async fn pipe(mut from: OwnedReadHalf, to: Option<OwnedWriteHalf>, link: &Link<'_>) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT_CHUNKS);
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    link.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let due = Instant::now() + link.delay;
                    if tx.send((due, buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        let mut to = to;
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if !link.passes() {
                continue;
            }
            let Some(to) = to.as_mut() else { continue };
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        if let Some(to) = to.as_mut() {
            let _ = to.shutdown().await;
        }
    };
    tokio::join!(reader, writer);
}

/// The p2p links between validators, one relay per ordered pair (`from` dials `to` through its
/// own relay): every link to or from a validator can be cut while the others stay up, and the
/// traffic of each pair of validators can be told apart (whichever of the two dialed). Dropping
/// it stops the relays and closes their connections.
pub struct Links {
    /// `relays[from][to]`, none where `from == to`.
    relays: Vec<Vec<Option<Relay>>>,
}

impl Links {
    /// Relays holding each chunk `delay` in each direction (zero: none) between the validators
    /// whose p2p listeners are at `p2p`.
    pub async fn new(p2p: &[SocketAddr], delay: Duration) -> Result<Self> {
        let mut relays = Vec::with_capacity(p2p.len());
        for from in 0..p2p.len() {
            let mut row = Vec::with_capacity(p2p.len());
            for (to, upstream) in p2p.iter().enumerate() {
                row.push(if from == to {
                    None
                } else {
                    Some(Relay::start(*upstream, delay).await?)
                });
            }
            relays.push(row);
        }
        Ok(Self { relays })
    }

    /// The relay validator `from` dials validator `to` through (`from != to`).
    pub fn relay(&self, from: usize, to: usize) -> &Relay {
        self.relays[from][to]
            .as_ref()
            .expect("no link from a validator to itself")
    }

    /// Where validator `from` dials validator `to` (`from != to`).
    pub fn address(&self, from: usize, to: usize) -> SocketAddr {
        self.relay(from, to).listen
    }

    /// Cuts every p2p link of validator `i` (clients can still reach it).
    pub fn isolate(&self, i: usize) {
        let from_i = self.relays[i].iter();
        let to_i = self.relays.iter().map(|row| &row[i]);
        from_i.chain(to_i).flatten().for_each(Relay::cut);
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.relays
            .iter()
            .flatten()
            .flatten()
            .for_each(Relay::restore);
    }
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
    let relay = Relay::start(echo_addr, delay).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-byte echo through `client`, or none within `wait`.
    async fn echo(client: &mut TcpStream, byte: u8, wait: Duration) -> Option<u8> {
        client.write_all(&[byte]).await.ok()?;
        let mut answer = [0u8; 1];
        match tokio::time::timeout(wait, client.read(&mut answer)).await {
            Ok(Ok(1)) => Some(answer[0]),
            _ => None,
        }
    }

    /// An echo server on loopback answering every connection.
    async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                connections.spawn(async move {
                    let mut byte = [0u8; 1];
                    while socket.read_exact(&mut byte).await.is_ok() {
                        if socket.write_all(&byte).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (address, server)
    }

    #[tokio::test]
    async fn a_round_trip_takes_twice_the_delay() {
        let delay = Duration::from_millis(40);
        let times = echo_round_trips(delay, 5).await.unwrap();
        for rtt in times {
            assert!(rtt >= 2 * delay, "round trip {rtt:?} under twice {delay:?}");
            assert!(
                rtt < 2 * delay + Duration::from_secs(1),
                "round trip {rtt:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_cut_swallows_bytes_and_its_end_closes_the_connections_that_lost_some() {
        let (upstream, _server) = echo_server().await;
        let relay = Relay::start(upstream, Duration::ZERO).await.unwrap();
        let wait = Duration::from_millis(500);
        let mut idle = TcpStream::connect(relay.listen).await.unwrap();
        let mut busy = TcpStream::connect(relay.listen).await.unwrap();
        assert_eq!(echo(&mut idle, 1, wait).await, Some(1));
        assert_eq!(echo(&mut busy, 2, wait).await, Some(2));

        relay.cut();
        assert_eq!(
            echo(&mut busy, 3, wait).await,
            None,
            "a byte crossed the cut"
        );
        let mut dialed_across = TcpStream::connect(relay.listen).await.unwrap();
        assert_eq!(echo(&mut dialed_across, 4, wait).await, None);

        relay.restore();
        // What lost bytes is closed (EOF or reset); what sent nothing across the cut goes on.
        for lost in [&mut busy, &mut dialed_across] {
            let mut rest = Vec::new();
            let read = tokio::time::timeout(wait, lost.read_to_end(&mut rest)).await;
            assert!(
                matches!(read, Ok(Ok(0)) | Ok(Err(_))),
                "a connection that lost bytes stayed open: {read:?}"
            );
        }
        assert_eq!(echo(&mut idle, 5, wait).await, Some(5));
        let mut fresh = TcpStream::connect(relay.listen).await.unwrap();
        assert_eq!(echo(&mut fresh, 6, wait).await, Some(6));
        assert_eq!(relay.connections(), 4);
    }

    #[tokio::test]
    async fn isolating_a_validator_cuts_exactly_its_links() {
        let mut servers = Vec::new();
        let mut upstreams = Vec::new();
        for _ in 0..3 {
            let (address, server) = echo_server().await;
            upstreams.push(address);
            servers.push(server);
        }
        let links = Links::new(&upstreams, Duration::ZERO).await.unwrap();
        let wait = Duration::from_millis(300);
        links.isolate(0);
        for (from, to, open) in [(0, 1, false), (1, 0, false), (1, 2, true), (2, 1, true)] {
            let mut client = TcpStream::connect(links.address(from, to)).await.unwrap();
            let answer = echo(&mut client, 7, wait).await;
            assert_eq!(answer.is_some(), open, "link {from} -> {to}");
        }
        links.heal();
        let mut client = TcpStream::connect(links.address(0, 1)).await.unwrap();
        assert_eq!(echo(&mut client, 8, wait).await, Some(8));
    }
}

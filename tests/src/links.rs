//! Validators' p2p links through in-process TCP relays on loopback, which a test can cut to
//! partition the network.
//!
//! Every validator's configuration names each peer at a relay address of its own (one relay per
//! ordered pair), and the relay forwards to the peer's real p2p port. Isolating a validator makes
//! every relay to or from it swallow bytes silently (the connection stays open, as over a dead
//! link, so the nodes do not learn of the cut from a reset); healing closes the connections that
//! lost data, and the nodes dial again. Clients still reach the isolated validator's RPC port,
//! which no relay touches.
//!
//! Why relays rather than network namespaces or packet filters: they need no root, no system
//! package and no global state (nothing can leak if the test is killed), they work on any
//! machine CI runs on, and they cut exactly the validator-to-validator traffic. The source
//! address the nodes see stays 127.0.0.1, which is what their authenticated p2p expects of a
//! peer registered at 127.0.0.1.

use crate::cluster::Configure;
use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
    sync::watch,
    task::JoinSet,
};

/// The relays between `n` validators; dropping it stops them and closes their connections.
pub struct Links {
    /// `relays[from][to]`: where validator `from` dials validator `to`.
    relays: Vec<Vec<Option<SocketAddr>>>,
    /// Real p2p addresses, learned from the configurations `configure` rewrites.
    targets: Arc<Mutex<Vec<Option<SocketAddr>>>>,
    isolated: watch::Sender<BTreeSet<usize>>,
    _tasks: JoinSet<()>,
}

impl Links {
    /// Binds one relay per ordered pair of `n` validators on 127.0.0.1 (must run in a tokio
    /// runtime, which then carries the traffic).
    pub async fn new(n: usize) -> std::io::Result<Self> {
        let targets = Arc::new(Mutex::new(vec![None; n]));
        let (isolated, _) = watch::channel(BTreeSet::new());
        let mut tasks = JoinSet::new();
        let mut relays = vec![vec![None; n]; n];
        for (from, row) in relays.iter_mut().enumerate() {
            for (to, relay) in row.iter_mut().enumerate() {
                if from == to {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                *relay = Some(listener.local_addr()?);
                tasks.spawn(accept(
                    listener,
                    (from, to),
                    targets.clone(),
                    isolated.subscribe(),
                ));
            }
        }
        Ok(Self {
            relays,
            targets,
            isolated,
            _tasks: tasks,
        })
    }

    /// A configuration change for [`crate::cluster::Cluster::start_with`]: each validator
    /// dials its peers through the relays (its own entry keeps the real address).
    pub fn configure(&self) -> Configure {
        let relays = self.relays.clone();
        let targets = self.targets.clone();
        Box::new(move |me, config| {
            let validators = config
                .get_mut("chain")
                .and_then(|c| c.get_mut("validators"))
                .and_then(|v| v.as_array_mut())
                .expect("chain.validators in a validator's config");
            for (peer, entry) in validators.iter_mut().enumerate() {
                let address = entry
                    .get_mut("p2p_address")
                    .expect("p2p_address of a validator");
                let real: SocketAddr = address
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .expect("p2p_address is a socket address");
                targets.lock().unwrap()[peer] = Some(real);
                if let Some(relay) = relays[me][peer] {
                    *address = toml::Value::String(relay.to_string());
                }
            }
        })
    }

    /// Cuts every p2p link of validator `i` (clients can still reach it).
    pub fn isolate(&self, i: usize) {
        self.isolated.send_modify(|set| {
            set.insert(i);
        });
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.isolated.send_modify(BTreeSet::clear);
    }
}

async fn accept(
    listener: TcpListener,
    (from, to): (usize, usize),
    targets: Arc<Mutex<Vec<Option<SocketAddr>>>>,
    isolated: watch::Receiver<BTreeSet<usize>>,
) {
    // Connections live in this task's set: stopping the relay closes them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                let target = targets.lock().unwrap()[to];
                connections.spawn(relay(inbound, target, (from, to), isolated.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Forwards one connection both ways until either side closes it, or the link heals after a
/// cut that lost some of its bytes.
async fn relay(
    inbound: TcpStream,
    target: Option<SocketAddr>,
    (from, to): (usize, usize),
    isolated: watch::Receiver<BTreeSet<usize>>,
) {
    let cut = move |set: &BTreeSet<usize>| set.contains(&from) || set.contains(&to);
    let lost = AtomicBool::new(false);
    let (in_read, in_write) = inbound.into_split();
    let cut_at_accept = cut(&isolated.borrow());
    let outbound = match target {
        Some(target) if !cut_at_accept => TcpStream::connect(target).await.ok(),
        _ => None,
    };
    let Some(outbound) = outbound else {
        // Across a cut: a dial that is never answered. Otherwise (the validator is down) the
        // dial is refused at once, as it would be without the relay.
        if cut_at_accept {
            lost.store(true, Ordering::Relaxed);
            pump(in_read, None, &lost, isolated, cut).await;
        }
        return;
    };
    let (out_read, out_write) = outbound.into_split();
    tokio::select! {
        _ = pump(in_read, Some(out_write), &lost, isolated.clone(), cut) => {}
        _ = pump(out_read, Some(in_write), &lost, isolated, cut) => {}
    }
}

/// Copies `from` to `to` (none: discards), dropping what arrives while the link is cut; returns
/// at end of stream, on an error, or when a link that lost bytes heals.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: Option<OwnedWriteHalf>,
    lost: &AtomicBool,
    mut isolated: watch::Receiver<BTreeSet<usize>>,
    cut: impl Fn(&BTreeSet<usize>) -> bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let now_cut = cut(&isolated.borrow());
                if now_cut {
                    lost.store(true, Ordering::Relaxed);
                    continue;
                }
                let Some(to) = to.as_mut() else { continue };
                if lost.load(Ordering::Relaxed) || to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            changed = isolated.changed() => {
                if changed.is_err() {
                    return;
                }
                let now_cut = cut(&isolated.borrow_and_update());
                if now_cut {
                    lost.store(true, Ordering::Relaxed);
                } else if lost.load(Ordering::Relaxed) {
                    return;
                }
            }
        }
    }
}

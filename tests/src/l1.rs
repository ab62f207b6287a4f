//! L1 for cluster tests: a real anvil process (from the contracts' npm packages), the inbox
//! deployed through the alloy bindings, forced submissions, and a loopback TCP proxy that lets a
//! test cut one validator off its L1 endpoint.

use crate::cluster::free_port_range;
use alloy::{
    network::EthereumWallet,
    primitives::{Address, Bytes as AlloyBytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use anyhow::{bail, Context as _, Result};
use ordo_l1::bindings::ForcedInclusionInbox::{self, ForcedTransaction};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tokio::{net::TcpListener, task::JoinSet};

/// anvil's first default account (a well-known development key, funded on every anvil).
pub const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// `$ANVIL`, else the binary `make contracts-install` put in contracts/node_modules, else PATH.
pub fn anvil_binary() -> PathBuf {
    if let Ok(p) = std::env::var("ANVIL") {
        return PathBuf::from(p);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/anvil");
    if local.exists() {
        local
    } else {
        PathBuf::from("anvil")
    }
}

/// An anvil L1 mining one block per second, its state kept in a file so a restart resumes the
/// same chain. Killed on drop.
pub struct Anvil {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Anvil {
    pub async fn start(dir: &Path) -> Result<Self> {
        let mut anvil = Self {
            port: free_port_range(1),
            dir: dir.to_path_buf(),
            child: None,
        };
        anvil.spawn().await?;
        Ok(anvil)
    }

    async fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("anvil.log"))?;
        let child = Command::new(anvil_binary())
            .args(["--port", &self.port.to_string(), "--block-time", "1"])
            .arg("--state")
            .arg(self.dir.join("anvil-state.json"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", anvil_binary().display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.block_number().await.is_err() {
            if Instant::now() > deadline {
                bail!(
                    "anvil did not answer within 30 s (see {}/anvil.log)",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn provider(&self) -> DynProvider {
        let signer: PrivateKeySigner = ANVIL_KEY.parse().expect("valid key");
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(self.url().parse().expect("valid url"))
            .erased()
    }

    pub async fn block_number(&self) -> Result<u64> {
        Ok(self.provider().get_block_number().await?)
    }

    /// Stops anvil with SIGTERM (it writes its state) and starts it again on the same port.
    pub async fn restart(&mut self, down_for: Duration) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            child.wait()?;
        }
        tokio::time::sleep(down_for).await;
        self.spawn().await
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A deployed `ForcedInclusionInbox`.
pub struct Inbox {
    pub address: Address,
    contract: ForcedInclusionInbox::ForcedInclusionInboxInstance<DynProvider>,
}

/// One queued entry, as the inbox's event reported it.
#[derive(Clone, Debug)]
pub struct Queued {
    pub index: u64,
    pub l1_block: u64,
    pub deadline: u64,
}

impl Inbox {
    /// `ordo-node genesis` arguments for a chain that follows this inbox on `anvil` (1 confirmation).
    pub fn genesis_args(&self, anvil: &Anvil) -> Vec<String> {
        vec![
            "--l1-inbox".to_string(),
            self.address.to_string(),
            "--l1-rpc".into(),
            anvil.url(),
            "--l1-confirmations".into(),
            "1".into(),
        ]
    }

    /// Deploys an inbox whose entries are due `inclusion_delay` L1 blocks after submission.
    pub async fn deploy(anvil: &Anvil, inclusion_delay: u64) -> Result<Self> {
        let provider = anvil.provider();
        let recipient: Address = ANVIL_KEY.parse::<PrivateKeySigner>()?.address();
        let config = ForcedInclusionInbox::Config {
            inclusionDelay: U256::from(inclusion_delay),
            baseFee: U256::from(1_000_000_000_000u64),
            feeDoublingStep: U256::from(50),
            maxPerL1Block: U256::from(16),
            maxTxSize: U256::from(131_072),
            feeRecipient: recipient,
        };
        let contract = ForcedInclusionInbox::deploy(provider, config).await?;
        Ok(Self {
            address: *contract.address(),
            contract,
        })
    }

    /// Queues `tx` for `rollup`, paying the current fee; waits until it is mined.
    pub async fn submit(&self, rollup: u64, tx: &[u8]) -> Result<Queued> {
        let fee = self.contract.fee(rollup).call().await?;
        // The nonce is read each time: a re-org in a test drops mined transactions, and a cached
        // nonce would leave a gap that anvil never mines.
        let provider = self.contract.provider();
        let sender = ANVIL_KEY.parse::<PrivateKeySigner>()?.address();
        let nonce = provider.get_transaction_count(sender).pending().await?;
        let pending = self
            .contract
            .submit(rollup, AlloyBytes::copy_from_slice(tx))
            .value(fee)
            .nonce(nonce)
            .send()
            .await?;
        // Poll for the receipt rather than watching new blocks: alloy's block watcher loses
        // track when a test re-orgs anvil.
        let hash = *pending.tx_hash();
        let deadline = Instant::now() + Duration::from_secs(30);
        let receipt = loop {
            if let Some(receipt) = provider.get_transaction_receipt(hash).await? {
                break receipt;
            }
            if Instant::now() > deadline {
                bail!("inbox submission {hash} not mined within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let event = receipt
            .logs()
            .iter()
            .find_map(|log| log.log_decode::<ForcedTransaction>().ok())
            .context("no ForcedTransaction event in the receipt")?
            .inner
            .data;
        Ok(Queued {
            index: event.index.saturating_to(),
            l1_block: event.l1Block,
            deadline: event.deadline,
        })
    }
}

/// A loopback TCP proxy in front of an L1 endpoint; `cut` closes the listener and every open
/// connection, `restore` listens again on the same port.
pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Result<Self> {
        let mut proxy = Self {
            port: free_port_range(1),
            target,
            task: None,
        };
        proxy.restore().await?;
        Ok(proxy)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn restore(&mut self) -> Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            // Dropping the set (when the task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
        Ok(())
    }

    pub fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

//! `ordo-op-adapter`: runs one rollup's builder and batcher against op-geth, op-node and L1.

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, U256};
use anyhow::Context;
use clap::Parser;
use ordo_op_adapter::{
    batcher::{self, BatcherConfig},
    builder::{self, Builder, Endpoints},
    config::RollupSettings,
    ordo::OrdoStream,
    rpc::{Client, JwtSecret},
    setup,
};
use std::{path::PathBuf, time::Duration};

#[derive(Parser)]
#[command(
    version,
    about = "Builds an OP Stack rollup's blocks and batches from Ordo's certified order"
)]
enum Command {
    /// Follow Ordo and build the rollup's blocks and batches.
    Run(Args),
    /// Write op-geth's L2 genesis for a devnet rollup.
    L2Genesis(L2GenesisArgs),
    /// Write op-node's rollup.json, anchored at the current L1 head and op-geth's genesis.
    RollupConfig(RollupConfigArgs),
    /// Write the L1 chain config op-node needs for an L1 outside its registry (e.g. anvil).
    L1ChainConfig(L1ChainConfigArgs),
}

#[derive(clap::Args)]
struct L1ChainConfigArgs {
    #[arg(long)]
    l1_rpc: String,
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct L2GenesisArgs {
    #[arg(long)]
    chain_id: u64,
    /// Genesis timestamp (default: now).
    #[arg(long)]
    timestamp: Option<u64>,
    /// Accounts to fund, as ADDRESS (10,000 ETH each).
    #[arg(long = "fund", value_delimiter = ',')]
    fund: Vec<Address>,
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct RollupConfigArgs {
    #[arg(long)]
    chain_id: u64,
    #[arg(long)]
    l1_rpc: String,
    /// op-geth's RPC, after `geth init` with the L2 genesis.
    #[arg(long)]
    l2_rpc: String,
    #[arg(long, default_value_t = 1)]
    block_time: u64,
    /// The batcher's L1 address (the only sender op-node reads batches from).
    #[arg(long)]
    batcher: Address,
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct Args {
    /// Rollup id in Ordo's registry (the L2 chain id).
    #[arg(long)]
    rollup: u64,
    /// WebSocket RPC of any Ordo node (it is not trusted: everything is verified).
    #[arg(long)]
    ordo_ws: String,
    /// The Ordo network's 96-byte BLS group key (hex).
    #[arg(long)]
    group_key: String,
    /// First Ordo height this rollup adopts (when op-geth is still at genesis).
    #[arg(long, default_value_t = 1)]
    ordo_start_height: u64,
    /// The rollup.json op-node runs with.
    #[arg(long)]
    rollup_config: PathBuf,
    #[arg(long)]
    l1_rpc: String,
    /// op-geth's Engine API (authrpc).
    #[arg(long)]
    l2_engine: String,
    /// The JWT secret file op-geth's authrpc uses.
    #[arg(long)]
    l2_jwt_secret: PathBuf,
    /// op-geth's public RPC (eth and debug APIs).
    #[arg(long)]
    l2_rpc: String,
    /// op-node's RPC (started with --rpc.enable-admin).
    #[arg(long)]
    op_node_rpc: String,
    /// File holding the batcher's L1 private key (hex): rollup.json's batcherAddr.
    #[arg(long)]
    batcher_key: PathBuf,
    /// L2 blocks per channel posted to L1.
    #[arg(long, default_value_t = 2)]
    blocks_per_channel: u64,
    /// Post a channel again when op-node has not made it safe within this many seconds.
    #[arg(long, default_value_t = 30)]
    repost_after_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Command::parse() {
        Command::Run(args) => run(args).await,
        Command::L2Genesis(args) => {
            let timestamp = args.timestamp.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            });
            let ten_thousand_eth = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18));
            let alloc: Vec<_> = args.fund.iter().map(|a| (*a, ten_thousand_eth)).collect();
            write_json(
                &args.out,
                &setup::l2_genesis(args.chain_id, timestamp, &alloc),
            )
        }
        Command::L1ChainConfig(args) => {
            let l1 = Client::new(&args.l1_rpc, None, Duration::from_secs(10));
            let chain: U256 = l1.call("eth_chainId", serde_json::json!([])).await?;
            write_json(&args.out, &setup::l1_chain_config(chain.to()))
        }
        Command::RollupConfig(args) => {
            let timeout = Duration::from_secs(10);
            let l1 = Client::new(&args.l1_rpc, None, timeout);
            let l2 = Client::new(&args.l2_rpc, None, timeout);
            let l1_chain: U256 = l1.call("eth_chainId", serde_json::json!([])).await?;
            let l1_head: U256 = l1.call("eth_blockNumber", serde_json::json!([])).await?;
            let genesis = builder::block_by_number(&l2, 0).await?;
            // L2 blocks may not be older than their L1 origin: anchor at the newest L1 block
            // not newer than the L2 genesis.
            let mut anchor = builder::block_by_number(&l1, l1_head.to()).await?;
            while anchor.timestamp > genesis.timestamp && anchor.number > 0 {
                anchor = builder::block_by_number(&l1, anchor.number - 1).await?;
            }
            anyhow::ensure!(
                anchor.timestamp <= genesis.timestamp,
                "every L1 block is newer than the L2 genesis (timestamp {})",
                genesis.timestamp
            );
            let config = setup::rollup_config(
                args.chain_id,
                &setup::L1Anchor {
                    chain_id: l1_chain.to(),
                    number: anchor.number,
                    hash: anchor.hash,
                },
                genesis.hash,
                genesis.timestamp,
                args.block_time,
                args.batcher,
            );
            write_json(&args.out, &config)
        }
    }
}

fn write_json(path: &std::path::Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let settings = RollupSettings::read(&args.rollup_config)?;
    anyhow::ensure!(
        settings.chain_id == args.rollup,
        "rollup.json is for chain {}, --rollup is {}",
        settings.chain_id,
        args.rollup
    );
    let group_key = ordo_light::GroupKey::from_hex(&args.group_key)
        .map_err(|e| anyhow::anyhow!("--group-key: {e}"))?;
    let jwt = JwtSecret::read(&args.l2_jwt_secret)?;
    let key_text = std::fs::read_to_string(&args.batcher_key)
        .with_context(|| format!("reading {}", args.batcher_key.display()))?;
    let key: PrivateKeySigner = key_text
        .trim()
        .parse()
        .with_context(|| format!("{} is not a private key", args.batcher_key.display()))?;
    let timeout = Duration::from_secs(10);
    let client = |url: &str| Client::new(url, None, timeout);
    let endpoints = Endpoints {
        l1: client(&args.l1_rpc),
        engine: Client::new(&args.l2_engine, Some(jwt), timeout),
        l2: client(&args.l2_rpc),
        node: client(&args.op_node_rpc),
    };
    let builder = wait_for(|| Builder::resume(settings.clone(), endpoints.clone())).await;
    let head = builder.head().clone();
    let from = if head.number == 0 {
        args.ordo_start_height
    } else {
        ordo_op_adapter::ordo::first_height_after(
            &args.ordo_ws,
            args.rollup,
            settings.schedule.timestamp(head.number) * 1000,
            args.ordo_start_height,
        )
        .await?
    };
    tracing::info!(
        l2_head = head.number,
        l1_origin = head.origin.number,
        ordo_from = from,
        "adapter starting"
    );
    let stream = OrdoStream::new(args.ordo_ws.clone(), group_key, args.rollup, from);
    let batcher = batcher::run(
        settings,
        client(&args.l2_rpc),
        client(&args.op_node_rpc),
        BatcherConfig {
            l1_rpc: args.l1_rpc.clone(),
            key,
            blocks_per_channel: args.blocks_per_channel,
            repost_after: Duration::from_secs(args.repost_after_secs),
        },
    );
    tokio::select! {
        r = builder.run(stream) => r.context("builder stopped"),
        r = batcher => r.context("batcher stopped"),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Retries `f` until op-geth, op-node and L1 answer (they may still be starting).
async fn wait_for<T, F, Fut>(f: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    loop {
        match f().await {
            Ok(t) => return t,
            Err(e) => {
                tracing::warn!("waiting for the rollup's nodes: {e:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

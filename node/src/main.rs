//! `ordo-node`: run an Ordo validator, create identities and networks, verify receipts offline.

mod config;
mod genesis;
mod run;
mod verify;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::{net::IpAddr, path::PathBuf, process::ExitCode};

/// Blocks, batches and transactions are many short-lived allocations on every worker thread;
/// glibc's malloc and free were ~8% of a saturated node's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ordo-node",
    version,
    about = "Ordo: shared decentralized sequencing for rollups"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a validator.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a new ed25519 identity (private and public key, hex).
    Keygen {
        /// Derive the key from a seed (tests only).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Create a network: trusted-dealer threshold keys and one config per validator.
    Genesis {
        #[arg(long)]
        validators: usize,
        /// Rollups as ID:KIND, e.g. 901:evm,902:evm,903:opaque.
        #[arg(long)]
        rollups: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        #[arg(long, default_value_t = 9000)]
        p2p_base_port: u16,
        #[arg(long, default_value_t = 8545)]
        rpc_base_port: u16,
        /// Minimum milliseconds between blocks.
        #[arg(long, default_value_t = 50)]
        block_interval_ms: u64,
        /// Deterministic keys from a seed (tests only: the dealer's randomness is the secret).
        #[arg(long)]
        seed: Option<u64>,
        /// ForcedInclusionInbox address on L1: the network enforces forced inclusion.
        #[arg(long, requires = "l1_rpc")]
        l1_inbox: Option<String>,
        /// L1 JSON-RPC endpoint the validators follow.
        #[arg(long, requires = "l1_inbox")]
        l1_rpc: Option<String>,
        /// First L1 block to read (at or before the inbox's deployment).
        #[arg(long, default_value_t = 0)]
        l1_start_block: u64,
        /// Confirmations before an L1 block is used.
        #[arg(long, default_value_t = 2)]
        l1_confirmations: u64,
    },
    /// Verify a receipt, rollup batch or certificate offline with only the group key.
    Verify {
        /// 96-byte group key, hex.
        #[arg(long)]
        group_key: String,
        /// A file holding `ordo_getReceipt` or `ordo_getRollupBatch` JSON, or the hex/binary
        /// encoding of a receipt.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    match run_cli(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// mimalloc asks for transparent huge pages and returns freed memory to the kernel; every region
/// it takes back then faults in as a 2 MiB page the kernel zeroes first. That zeroing was ~8% of
/// the machine's CPU with 4 saturated validators, and saturation rose ~15% without it (both
/// measured by `ordo-bench`). Best effort: a kernel without the setting keeps huge pages.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of this process.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

fn run_cli(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { config } => run::run(config::NodeConfig::load(&config)?),
        Command::Keygen { seed } => {
            let (private, public) = genesis::keygen(seed);
            println!("private_key = \"{private}\"\npublic_key = \"{public}\"");
            Ok(())
        }
        Command::Genesis {
            validators,
            rollups,
            out,
            host,
            p2p_base_port,
            rpc_base_port,
            block_interval_ms,
            seed,
            l1_inbox,
            l1_rpc,
            l1_start_block,
            l1_confirmations,
        } => {
            let group_key = genesis::genesis(genesis::GenesisOptions {
                validators,
                rollups: genesis::parse_rollups(&rollups)?,
                out: &out,
                host,
                p2p_base_port,
                rpc_base_port,
                seed,
                genesis_time_ms: 0,
                block_interval_ms,
                l1: l1_inbox.zip(l1_rpc).map(|(inbox, rpc)| genesis::GenesisL1 {
                    rpc,
                    inbox,
                    start_block: l1_start_block,
                    confirmations: l1_confirmations,
                }),
            })?;
            println!("wrote {validators} validator configs to {}", out.display());
            println!("group key: {group_key}");
            Ok(())
        }
        Command::Verify { group_key, file } => {
            let summary = verify::verify_file(&group_key, &file)?;
            println!("{summary}");
            Ok(())
        }
    }
}

//! `enclave-load`: a load generator that drives a running Enclave server over loopback and
//! reports throughput and latency.
//!
//! Scenario `http-send`: N clients (each its own user, own token, own connection pool) post
//! messages into a set of channels as fast as the server acknowledges them (or at a target
//! rate), and the tool reports acknowledged sends per second and send latency percentiles.
//! Every send carries a `client_msg_id`; the tool checks afterwards that the channels hold
//! exactly the acknowledged messages.

mod http_send;
mod setup;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "enclave-load", about = "Load generator for Enclave")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Debug)]
enum Scenario {
    /// Concurrent HTTP senders: acknowledged sends/s and latency.
    HttpSend(http_send::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.scenario {
            Scenario::HttpSend(args) => http_send::run(args).await,
        }
    })
}

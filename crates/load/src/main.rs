//! `enclave-load`: a load generator that drives a running Enclave server over loopback and
//! reports throughput and latency.
//!
//! Scenario `http-send`: N clients (each its own user, own token, own connection pool) post
//! messages into a set of channels as fast as the server acknowledges them (or at a target
//! rate), and the tool reports acknowledged sends per second and send latency percentiles.
//! Every send carries a `client_msg_id`; the tool checks afterwards that the channels hold
//! exactly the acknowledged messages.
//!
//! WebSocket scenarios (docs/api/realtime.md), each bounded in count and time:
//! - `ws-channels`: N clients in channels of K members, all sending `send` frames at a total
//!   rate; acks/s, deliveries/s and send-to-delivery latency.
//! - `ws-fanout`: one channel of M connected members, S senders; deliveries/s, latency, and a
//!   check that every receiver got every acknowledged message once, in order.
//! - `ws-idle`: N idle connections held for a while; server memory per connection.

mod http_send;
mod setup;
mod ws;
mod ws_idle;
mod ws_traffic;

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
    /// WebSocket clients in small channels, all sending: acks/s, deliveries/s, latency.
    #[command(after_help = ws::SERVER_HINT)]
    WsChannels(ws_traffic::ChannelsArgs),
    /// One big channel, all members connected, few senders: deliveries/s, latency, ordering.
    #[command(after_help = ws::SERVER_HINT)]
    WsFanout(ws_traffic::FanoutArgs),
    /// Many idle WebSocket connections: how many are held, server memory per connection.
    #[command(after_help = ws::SERVER_HINT)]
    WsIdle(ws_idle::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.scenario {
            Scenario::HttpSend(args) => http_send::run(args).await,
            Scenario::WsChannels(args) => ws_traffic::run_channels(args).await,
            Scenario::WsFanout(args) => ws_traffic::run_fanout(args).await,
            Scenario::WsIdle(args) => ws_idle::run(args).await,
        }
    })
}

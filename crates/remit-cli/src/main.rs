//! `remit`: the Remit command line. A local relay, profiles, the payment messages, and
//! `remit demo`, the whole flow in a few seconds.
//!
//! ```text
//! remit demo
//! remit relay --listen 127.0.0.1:4433 --data-dir ./relay
//! remit init --profile alice --relay 127.0.0.1:4433 --fingerprint HEX
//! remit --profile alice request bob 12.50 USD --memo lunch
//! remit --profile bob inbox
//! ```
//! Human output by default, `--json` for scripts. Every failure is one line on stderr and a
//! non-zero exit.
#![forbid(unsafe_code)]

mod commands;
mod demo;
mod describe;
mod profile;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

/// Remit: end-to-end encrypted payment messages.
#[derive(Debug, Parser)]
#[command(name = "remit", version, about)]
pub(crate) struct Cli {
    /// Directory of profiles (default: $REMIT_HOME, else ~/.remit).
    #[arg(long, global = true, env = "REMIT_HOME")]
    home: Option<PathBuf>,
    /// The profile to act as.
    #[arg(long, short = 'p', global = true, env = "REMIT_PROFILE")]
    profile: Option<String>,
    /// Machine-readable output (one JSON object on stdout).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the whole flow between Alice and Bob through a local relay, in a temporary directory.
    Demo,
    /// Start a relay (prints its address and the certificate fingerprint clients pin).
    Relay {
        /// UDP address to listen on.
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: SocketAddr,
        /// Directory for the relay's database and certificate (default: HOME/relay).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Create a profile (a new identity) registered at a relay.
    Init {
        /// The relay's address.
        #[arg(long)]
        relay: SocketAddr,
        /// The relay's certificate fingerprint (as `remit relay` prints it).
        #[arg(long)]
        fingerprint: String,
        /// The name shown on your requests (default: the profile name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Show this profile's address, fingerprint, and the safety number with each contact.
    Id,
    /// Manage contacts (a handle for a peer's address).
    #[command(subcommand)]
    Contact(ContactCommand),
    /// Mark a contact verified after comparing safety numbers (and confirm a changed identity).
    Verify {
        /// The contact's handle.
        peer: String,
    },
    /// Ask a peer for money.
    Request(RequestArgs),
    /// Send a peer an itemised invoice.
    Invoice(InvoiceArgs),
    /// Record a payment you made: tells the payee where to find the transfer.
    Pay(PayArgs),
    /// Confirm the money arrived (you checked your account) and send a signed receipt.
    Receipt {
        /// The request id (or a unique prefix of it).
        request: String,
    },
    /// Decline a request you were sent.
    Decline {
        /// The request id (or a unique prefix of it).
        request: String,
        /// other, unknown-payee, wrong-amount, already-paid, duplicate, unsupported-method,
        /// suspected-fraud.
        #[arg(long, default_value = "other")]
        reason: String,
        /// Free text for the payee.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Withdraw a request you sent.
    Cancel {
        /// The request id (or a unique prefix of it).
        request: String,
        /// other, issued-in-error, replaced, paid-out-of-band, order-cancelled,
        /// suspected-fraud.
        #[arg(long, default_value = "other")]
        reason: String,
        /// Free text for the payer.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Send a chat message.
    Text {
        /// The contact's handle.
        peer: String,
        /// The text.
        text: String,
    },
    /// Fetch what arrived, then list the payment threads.
    Inbox,
    /// Stay connected and print what arrives until interrupted.
    Listen,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContactCommand {
    /// Add (or change) a contact.
    Add {
        /// Your handle for the peer.
        handle: String,
        /// The peer's address (its `remit id` prints it).
        address: String,
    },
    /// List contacts.
    List,
}

#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The contact to ask.
    pub(crate) peer: String,
    /// The amount: "12.50 USD", or the number with the asset as the next argument.
    pub(crate) amount: String,
    /// The asset, if not part of the amount.
    pub(crate) asset: Option<String>,
    /// What it is for.
    #[arg(long, default_value = "")]
    pub(crate) memo: String,
    /// How long the request stays open: 30m, 12h, 7d, or seconds.
    #[arg(long, default_value = "7d")]
    pub(crate) expires_in: String,
    /// Where to pay: provider:NAME:ACCOUNT, bank:HOLDER:IBAN (or bank:HOLDER:IBAN:BIC), onchain:CHAIN:ADDRESS
    /// (default: provider:examplepay:@PROFILE).
    #[arg(long)]
    pub(crate) method: Vec<String>,
    /// Accept partial payments.
    #[arg(long)]
    pub(crate) partial: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InvoiceArgs {
    /// The contact to invoice.
    pub(crate) peer: String,
    /// A line: "DESCRIPTION|QUANTITY|UNIT PRICE", e.g. "Coffee beans|2|12.50 USD".
    #[arg(long)]
    pub(crate) item: Vec<String>,
    /// A tax line: "DESCRIPTION|AMOUNT", e.g. "VAT 8.1%|2.03 USD".
    #[arg(long)]
    pub(crate) tax: Vec<String>,
    /// A discount line: "DESCRIPTION|AMOUNT".
    #[arg(long)]
    pub(crate) discount: Vec<String>,
    /// Line items from a TOML or JSON file (number, issuer, memo, items, taxes, discounts).
    #[arg(long)]
    pub(crate) file: Option<PathBuf>,
    /// Invoice number.
    #[arg(long)]
    pub(crate) number: Option<String>,
    /// What it is for.
    #[arg(long)]
    pub(crate) memo: Option<String>,
    /// Payment due in: 30m, 12h, 7d, or seconds.
    #[arg(long, default_value = "14d")]
    pub(crate) due_in: String,
    /// Where to pay (as for `remit request`).
    #[arg(long)]
    pub(crate) method: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PayArgs {
    /// The request id (or a unique prefix of it).
    pub(crate) request: String,
    /// The transfer's reference on its rail (provider transfer id, bank end-to-end id, txid).
    #[arg(long = "ref", alias = "reference")]
    pub(crate) reference: String,
    /// The amount paid (default: the amount requested).
    #[arg(long)]
    pub(crate) amount: Option<String>,
    /// Which of the request's methods you used (0 = first).
    #[arg(long, default_value_t = 0)]
    pub(crate) method: u32,
    /// A note for the payee.
    #[arg(long, default_value = "")]
    pub(crate) note: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("remit: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remit: {}", remit_cli::input::one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

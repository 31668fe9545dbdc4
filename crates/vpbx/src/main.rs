//! The `vpbx` command. Run with `cargo run --release -- demo`.
//!
//! Every command takes `--config FILE` before or after the subcommand
//! (default `vpbx.toml`, else built-in defaults). Errors are one line on
//! stderr and a non-zero exit.

mod commands;
mod http;
mod media_cmds;
mod platform_cmds;
mod queue_cmds;
mod records;
mod settings;
mod trunks_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc returns freed memory to the system (glibc keeps the transient
/// transaction and parse garbage of a registration storm as RSS) and is
/// faster on the many small allocations of SIP messages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "vpbx", version, about = "Hosted multi-tenant IP-PBX")]
struct Cli {
    /// Server configuration (default: vpbx.toml if it exists, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a demo: data in ./vpbx-demo, a demo tenant, SIP on 127.0.0.1:5060, HTTP on 127.0.0.1:8080.
    Demo,
    /// Run all services.
    Serve,
    /// Create, delete, list, apply and export tenants.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// The operator's trunks, numbers and directions (the platform file).
    #[command(subcommand)]
    Platform(PlatformCmd),
    /// Simulate a call: every step of its walk through the tenant's destinations, and
    /// for an outside number the trunk, digits and caller ID (or why it is denied).
    Route {
        domain: String,
        /// The calling extension, or an outside caller's +E164 number.
        #[arg(long, value_name = "EXT")]
        from: String,
        /// The digits dialed.
        #[arg(long, value_name = "DIGITS")]
        to: String,
        /// The moment of the call (RFC 3339; default now): schedules decide by it.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Users already in a call (comma-separated extensions).
        #[arg(long, value_name = "EXT,…", value_delimiter = ',')]
        busy: Vec<String>,
    },
    /// Who is registered to a tenant, from where, until when.
    Registrations {
        domain: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Call records of a tenant, newest first.
    Cdr {
        domain: String,
        /// How many records (newest first).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only records older than this id (the next page).
        #[arg(long, value_name = "ID")]
        before: Option<i64>,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Calls in progress on a tenant (asks the running server).
    Calls {
        domain: String,
        /// Print the server's JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Trunks: registration at the provider, qualify, calls (asks the running server).
    Trunks {
        /// Print the server's JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Call queues: agents and waiting callers live, the queue log, statistics.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Every SIP message of one call or registration (asks the running server).
    Trace {
        call_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List or lift bans of source addresses.
    #[command(subcommand)]
    Ban(BanCmd),
    /// A tenant's prompt library (converted to 8 kHz mono WAV on upload).
    #[command(subcommand)]
    Prompt(PromptCmd),
    /// A tenant's music on hold (classes of files; `default` falls back to the system music).
    #[command(subcommand)]
    Moh(MohCmd),
}

/// Which queue events: a tenant, optionally one queue, from when.
#[derive(Debug, clap::Args)]
struct QueueRange {
    domain: String,
    /// Only this queue (its extension).
    #[arg(long)]
    queue: Option<String>,
    /// From this long ago (30m, 24h, 7d) or this RFC 3339 time.
    #[arg(long, default_value = "24h")]
    since: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum QueueCmd {
    /// Each queue's agents (free, ringing, talking, wrapup, paused…) and waiting callers
    /// (asks the running server).
    Show {
        domain: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// The queue log: enter, connect, abandon, timeout, complete, agent logins…
    Log(QueueRange),
    /// Offered, answered, abandoned, service level, average wait and talk per queue.
    Stats(QueueRange),
}

#[derive(Debug, Subcommand)]
enum TenantCmd {
    /// Create a tenant for a SIP domain.
    Create { domain: String },
    /// Delete a tenant and all its data.
    Delete {
        domain: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// List tenants.
    List,
    /// Validate a tenant file, show the diff, apply it live.
    Apply {
        file: PathBuf,
        /// Validate and show the diff only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a tenant as YAML (round-trips with apply).
    Export {
        domain: String,
        /// Include secrets.
        #[arg(long)]
        secrets: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PlatformCmd {
    /// Validate a platform file, show the diff, apply it live.
    Apply {
        file: PathBuf,
        /// Validate and show the diff only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the platform file as YAML (round-trips with apply).
    Export {
        /// Include the trunks' secrets.
        #[arg(long)]
        secrets: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PromptCmd {
    /// Convert an audio file (WAV of any rate/channels/encoding, or MP3) and store it as prompt NAME.
    Add {
        domain: String,
        name: String,
        file: PathBuf,
    },
    /// The tenant's prompts with duration and size, and the installed system languages.
    List {
        domain: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a prompt (refused while the tenant's config uses it).
    Remove { domain: String, name: String },
}

#[derive(Debug, Subcommand)]
enum MohCmd {
    /// Convert an audio file (WAV or MP3) and add it to music-on-hold class CLASS.
    Add {
        domain: String,
        class: String,
        file: PathBuf,
    },
    /// The tenant's music-on-hold classes and their files.
    List {
        domain: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove one file of a class, or the whole class (refused while the config plays it).
    Remove {
        domain: String,
        class: String,
        /// The stored file name (as `moh list` shows it); without it, every file of the class.
        file: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BanCmd {
    /// Active bans.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Lift the ban of one address.
    Remove { ip: String },
}

fn main() {
    let cli = Cli::parse();
    let filter = std::env::var("VPBX_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vpbx: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(commands::run(cli.config, cli.command)) {
        eprintln!("vpbx: {e:#}");
        std::process::exit(1);
    }
}

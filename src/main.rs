//! The `confab` binary: `confab [serve]` runs the server, `confab admin …`
//! manages accounts. Configuration comes from the environment and `.env`.

use std::process::ExitCode;

use base64::Engine;
use clap::{Parser, Subcommand};

use confab::config::Config;
use confab::{admin, app, telemetry};

#[derive(Parser)]
#[command(name = "confab", version, about = "Self-hosted Twilio Conversations v1 server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Manage accounts.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create an account; prints {"account_sid", "auth_token"} as JSON.
    CreateAccount {
        #[arg(long, default_value = "Confab account")]
        friendly_name: String,
    },
    /// Replace an account's Auth Token; prints the new token.
    RotateAuthToken { account_sid: String },
    /// Make CONFAB_MASTER_KEY the cluster's current master key and re-wrap
    /// every media data key and sealed secret under it (media objects are
    /// not rewritten). Every instance must hold the new key first. With the
    /// embedded key file, a new key is generated (or taken from --new-key)
    /// and the old one kept in master.key.previous. Prints {"key_id",
    /// "rewrapped"}.
    RotateMasterKey {
        /// New master key, base64 of 32 bytes (embedded key file only).
        #[arg(long)]
        new_key: Option<String>,
    },
    /// Retire a master key that is no longer current: re-wrap whatever is
    /// still sealed under it, then record it retired (instances may drop it).
    /// Prints {"retired", "current", "rewrapped"}.
    RetireMasterKey {
        /// The key's id (as `rotate-master-key` and the start-up log print it).
        key_id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("confab: .env: {e}");
        return ExitCode::FAILURE;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("confab: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => app::serve(config),
        Command::Admin(admin) => run_admin(config, admin),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_admin(config: Config, admin: Admin) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    match admin {
        Admin::CreateAccount { friendly_name } => {
            let creds = admin::create_account(config, &friendly_name)?;
            println!("{}", serde_json::to_string(&creds)?);
        }
        Admin::RotateAuthToken { account_sid } => {
            println!("{}", admin::rotate_auth_token(config, &account_sid)?);
        }
        Admin::RotateMasterKey { new_key } => {
            let new_key = new_key
                .map(|k| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(k.trim())
                        .map_err(|_| "--new-key: must be base64".to_string())?;
                    <[u8; 32]>::try_from(bytes).map_err(|_| "--new-key: must decode to 32 bytes".to_string())
                })
                .transpose()?;
            let rotation = admin::rotate_master_key(config, new_key)?;
            println!("{}", serde_json::to_string(&rotation)?);
        }
        Admin::RetireMasterKey { key_id } => {
            println!("{}", serde_json::to_string(&admin::retire_master_key(config, &key_id)?)?);
        }
    }
    Ok(())
}

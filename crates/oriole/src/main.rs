//! `oriole`: the server (`oriole serve`) and the end-user command-line client
//! in one binary. The command-line contract is `CLI.md`: names, flags, output
//! and exit codes are relied upon by scripts and tests.

mod admin;
mod cli;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, CliError, Command};

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors end here with exit status 2 (clap's convention).
    let Cli { global, command } = Cli::parse();
    // One crypto provider for every TLS connection in the process. The
    // server and the SDK name it explicitly anyway; this covers anything
    // that asks rustls for the default. It fails only when already set.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let result = match command {
        // The server sets up its own logging.
        Command::Serve(args) => serve::run(args)
            .await
            .map_err(|e| CliError::from_anyhow(&e)),
        // Works on the local data directory, like `serve`.
        Command::Admin(admin) if admin.is_local() => admin::run(admin, global.json)
            .await
            .map_err(|e| CliError::from_anyhow(&e)),
        command => {
            cli::init_logging();
            cli::run(global, command).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", error.line());
            ExitCode::FAILURE
        }
    }
}

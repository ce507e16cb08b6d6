//! The command line: the clap definitions of every command, and the
//! end-user commands that drive the SDK (`oriole_client`).

mod account;
mod audit;
pub mod dsar;
mod error;
mod groups;
mod keys;
mod me;
mod messages;
mod output;
mod privacy;
pub mod privacy_admin;
mod profile;
pub mod sharing;
pub mod staff;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use oriole_client::Client;
use oriole_proto::GroupRole;

pub use error::CliError;
use output::Output;
pub use privacy::PrivacyCommand;
use profile::Profile;

/// The server when neither `--server` nor `$ORIOLE_SERVER` nor the profile
/// names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

#[derive(Parser, Debug)]
#[command(
    name = "oriole",
    version,
    about = "Oriole: a privacy-first instant-messaging server and its command-line client",
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Accepted before or after the command name.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Server URL [default: the profile's server, else http://127.0.0.1:7070]
    #[arg(long, global = true, env = "ORIOLE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Login state file [default: ~/.config/oriole/profile.json]
    #[arg(long, global = true, env = "ORIOLE_PROFILE", value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Print one JSON object per line
    #[arg(long, global = true)]
    pub json: bool,
    /// CA certificate (PEM) to trust for an https:// server with a private
    /// CA or a self-signed certificate, instead of the built-in roots;
    /// register and login remember it in the profile
    #[arg(long, global = true, env = "ORIOLE_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server
    Serve(crate::serve::ServeArgs),
    /// Create an account and log in on this device (password from $ORIOLE_PASSWORD or a prompt)
    Register(account::RegisterArgs),
    /// Log in as a new device (password from $ORIOLE_PASSWORD or a prompt)
    Login(account::LoginArgs),
    /// End this device's session
    Logout,
    /// Send a message to a user, or to a group with --group
    #[command(override_usage = "oriole send [OPTIONS] USER TEXT\n       \
                                oriole send [OPTIONS] --group GROUP_ID TEXT")]
    Send(messages::SendArgs),
    /// Print messages since the last sync, oldest first
    Sync,
    /// Print messages live until interrupted
    Listen,
    /// Send a read receipt for a message
    Read {
        #[arg(value_name = "MESSAGE_ID")]
        message_id: String,
    },
    /// Recall a message you sent (within the recall window)
    Recall {
        #[arg(value_name = "MESSAGE_ID")]
        message_id: String,
    },
    /// Create and manage groups
    #[command(subcommand)]
    Group(GroupCommand),
    /// List this account's devices, or revoke one
    Devices {
        #[command(subcommand)]
        action: Option<DevicesCommand>,
    },
    /// What the server does with personal data
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Write the server's public signing keys to DIR/audit.pub and
    /// DIR/receipt.pub (PEM), for offline verification
    PublicKeys {
        /// Directory to write the keys into (created if missing)
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        dir: PathBuf,
    },
    /// See, correct, export or delete my data
    #[command(subcommand)]
    Me(me::MeCommand),
    /// Check a deletion receipt's signature (default key: the server's
    /// published receipt key)
    VerifyReceipt {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The receipt public key (PEM, from `oriole public-keys`)
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Operator commands
    #[command(subcommand)]
    Admin(crate::admin::AdminCommand),
    /// Verify, export and report on the tamper-evident audit log
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group; prints its id
    Create {
        #[arg(value_name = "NAME")]
        name: String,
        /// Add a member (repeatable)
        #[arg(long = "member", value_name = "USER")]
        members: Vec<String>,
        /// Members added later see messages sent before they joined
        #[arg(long)]
        history_visible: bool,
    },
    /// Add a member to a group
    Add {
        #[arg(value_name = "GROUP_ID")]
        group_id: String,
        #[arg(value_name = "USER")]
        user: String,
        /// Role of the new member [default: member]
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
    /// Remove a member from a group
    Remove {
        #[arg(value_name = "GROUP_ID")]
        group_id: String,
        #[arg(value_name = "USER")]
        user: String,
    },
    /// Leave a group
    Leave {
        #[arg(value_name = "GROUP_ID")]
        group_id: String,
    },
    /// List a group's members
    Members {
        #[arg(value_name = "GROUP_ID")]
        group_id: String,
    },
    /// List the groups you belong to
    List,
    /// Keep this group's messages DAYS days, overriding the deployment's
    /// `retention.message_days`, or go back to it with `default` (owner or
    /// admin)
    Retention {
        #[arg(value_name = "GROUP_ID")]
        group_id: String,
        #[arg(value_name = "DAYS|default")]
        days: groups::GroupRetention,
    },
}

#[derive(Subcommand, Debug)]
pub enum DevicesCommand {
    /// Log a device out; its connections are closed
    Revoke {
        #[arg(value_name = "DEVICE_ID")]
        device_id: String,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum RoleArg {
    Admin,
    Member,
}

impl From<RoleArg> for GroupRole {
    fn from(role: RoleArg) -> GroupRole {
        match role {
            RoleArg::Admin => GroupRole::Admin,
            RoleArg::Member => GroupRole::Member,
        }
    }
}

/// Logs for the client commands go to stderr only when `$ORIOLE_LOG` asks
/// (e.g. `ORIOLE_LOG=debug`): by default stderr carries just the error line.
pub fn init_logging() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("ORIOLE_LOG") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// What every client command works with: where the server is, the profile
/// and how to print.
pub struct Ctx {
    pub server: String,
    /// The CA to trust instead of the built-in roots, as an absolute path.
    pub ca_file: Option<PathBuf>,
    pub profile_path: PathBuf,
    pub profile: Profile,
    pub out: Output,
}

impl Ctx {
    fn new(global: GlobalArgs) -> Result<Ctx, CliError> {
        let profile_path = match global.profile.filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => path,
            None => profile::default_path()?,
        };
        let profile = Profile::load(&profile_path)?;
        let server = global
            .server
            .filter(|s| !s.trim().is_empty())
            .or_else(|| profile.server.clone())
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        // The profile's CA belongs to the profile's server only.
        let ca_file = match global.ca_file.filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => Some(
                std::path::absolute(&path)
                    .map_err(|e| CliError::io(&format!("cannot resolve {}", path.display()), &e))?,
            ),
            None if profile.server.as_deref() == Some(server.as_str()) => profile.ca_file.clone(),
            None => None,
        };
        Ok(Ctx {
            server,
            ca_file,
            profile_path,
            profile,
            out: Output::new(global.json),
        })
    }

    /// A client without a session (register, login).
    fn anonymous(&self) -> Result<Client, CliError> {
        let mut builder = Client::builder(&self.server);
        if let Some(ca_file) = &self.ca_file {
            builder = builder.ca_file(ca_file)?;
        }
        Ok(builder.build()?)
    }

    /// A client with the profile's session; an error when logged out.
    fn client(&self) -> Result<Client, CliError> {
        let token = self
            .profile
            .token
            .clone()
            .ok_or_else(|| CliError::not_logged_in(&self.profile_path))?;
        Ok(self.anonymous()?.with_token(token))
    }

    fn save(&self) -> Result<(), CliError> {
        self.profile.save(&self.profile_path)
    }
}

/// Run one end-user command.
pub async fn run(global: GlobalArgs, command: Command) -> Result<(), CliError> {
    let mut ctx = Ctx::new(global)?;
    match command {
        Command::Serve(_) => Err(CliError::new(
            "internal",
            "`serve` is dispatched by main, not here",
        )),
        Command::Admin(command) => staff::run(&mut ctx, command).await,
        Command::Register(args) => account::register(&mut ctx, args).await,
        Command::Login(args) => account::login(&mut ctx, args).await,
        Command::Logout => account::logout(&mut ctx).await,
        Command::Send(args) => messages::send(&ctx, args).await,
        Command::Sync => messages::sync(&mut ctx).await,
        Command::Listen => messages::listen(&mut ctx).await,
        Command::Read { message_id } => messages::read(&ctx, &message_id).await,
        Command::Recall { message_id } => messages::recall(&ctx, &message_id).await,
        Command::Group(command) => groups::run(&ctx, command).await,
        Command::Privacy(command) => privacy::run(&ctx, command).await,
        Command::Me(command) => me::run(&mut ctx, command).await,
        Command::VerifyReceipt { file, public_key } => {
            me::verify(&ctx, &file, public_key.as_deref()).await
        }
        Command::PublicKeys { dir } => keys::public_keys(&ctx, &dir).await,
        Command::Audit(command) => audit::run(&ctx, command).await,
        Command::Devices { action: None } => account::devices(&ctx).await,
        Command::Devices {
            action: Some(DevicesCommand::Revoke { device_id }),
        } => account::revoke(&mut ctx, &device_id).await,
    }
}

/// Exit with a usage error (status 2), like clap does for its own checks.
fn usage_error(subcommand: &str, message: &str) -> ! {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let mut cmd = cli
        .find_subcommand_mut(subcommand)
        .map(|c| c.clone())
        .unwrap_or_else(Cli::command);
    cmd.error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        for args in [
            &["oriole", "--json", "--server", "http://h:1", "sync"][..],
            &["oriole", "sync", "--json", "--server", "http://h:1"][..],
        ] {
            let cli = Cli::try_parse_from(args).expect("parses");
            assert!(cli.global.json);
            assert_eq!(cli.global.server.as_deref(), Some("http://h:1"));
            assert!(matches!(cli.command, Command::Sync));
        }
        let cli = Cli::try_parse_from(["oriole", "sync", "--ca-file", "ca.pem"]).expect("parses");
        assert_eq!(cli.global.ca_file, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn group_create_takes_repeated_members() {
        let cli = Cli::try_parse_from([
            "oriole",
            "group",
            "create",
            "friends",
            "--member",
            "bob",
            "--member",
            "carol",
            "--history-visible",
        ])
        .expect("parses");
        match cli.command {
            Command::Group(GroupCommand::Create {
                name,
                members,
                history_visible,
            }) => {
                assert_eq!(name, "friends");
                assert_eq!(members, ["bob", "carol"]);
                assert!(history_visible);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn privacy_inventory_parses() {
        let cli =
            Cli::try_parse_from(["oriole", "privacy", "inventory", "--json"]).expect("parses");
        assert!(cli.global.json);
        assert!(matches!(
            cli.command,
            Command::Privacy(PrivacyCommand::Inventory)
        ));
        assert!(Cli::try_parse_from(["oriole", "privacy"]).is_err());
    }

    #[test]
    fn no_password_flag_exists() {
        assert!(Cli::try_parse_from(["oriole", "login", "alice", "--password", "x"]).is_err());
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        for args in [
            &["oriole", "send"][..],
            &["oriole", "frobnicate"][..],
            &["oriole", "send", "bob", "hi", "--payload", "{not json"][..],
            &["oriole", "group"][..],
        ] {
            let err = Cli::try_parse_from(args).expect_err("usage error");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}

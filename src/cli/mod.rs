//! The command line: `lunet run FILE`, `lunet -e CODE`, `--sandbox`, `-v`.

mod complete;
pub mod convert;
mod enter;
mod progress;
mod sandbox;
mod scenario;
pub mod script;
pub mod session;
mod show;
mod state;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

pub use sandbox::STATE_DIR;

#[derive(Parser, Debug)]
#[command(
    name = "lunet",
    version,
    about = "Linux network namespaces in the hands of Lua",
    long_about = "Linux network namespaces in the hands of Lua.\n\n\
        Write network labs (namespaces, veths, bridges, addresses, routes) as Lua scripts.\n\
        Examples:\n  \
        lunet --sandbox up two-namespaces      a bundled scenario: setup, check, teardown\n  \
        lunet --sandbox                        the REPL, in a throw-away sandbox\n  \
        lunet run lab.lua                      a script (rolled back if it fails or is interrupted)\n  \
        lunet up lab.sh; lunet down lab        an existing ip script, journaled (convert: as Lua)\n  \
        lunet status; lunet down run-lab-4242  what a finished run left, and undoing it\n  \
        lunet shell left                       a shell inside namespace left\n  \
        lunet --sandbox -e 'print(net.ns.add(\"a\"))'"
)]
pub struct Cli {
    /// Run everything in a private, throw-away network, mount and PID namespace (nothing is
    /// created on the machine; killing lunet ends every process started inside)
    #[arg(long, global = true)]
    pub sandbox: bool,
    /// Trace every change as the equivalent `ip` command
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// For -e CODE and a script on standard input: on an uncaught error, a signal (INT,
    /// TERM, HUP) or os.exit(CODE ≠ 0), leave what it made instead of rolling it back
    /// (`lunet down NAME` undoes it later)
    #[arg(long)]
    pub keep_on_error: bool,
    /// Run a chunk of Lua
    #[arg(short = 'e', value_name = "CODE")]
    pub exec: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a Lua script (ARGS are in `arg`, and in `...`); rolled back if it fails or is interrupted.
    ///
    /// An ip script (FILE.sh) is brought up as by `lunet up FILE.sh` (it takes no ARGS).
    ///
    /// Its journal is kept in the state dir as run-SCRIPT-PID while it runs; if it ends having
    /// made something, `lunet status` lists it and `lunet down run-SCRIPT-PID` undoes it.
    /// SIGINT, SIGTERM, SIGHUP and os.exit(CODE ≠ 0) roll back and exit with 130, 143, 129 or CODE.
    Run {
        /// On an uncaught error, a signal (INT, TERM, HUP) or os.exit(CODE ≠ 0), leave what
        /// the script made instead of rolling it back (`lunet down NAME` undoes it later)
        #[arg(long)]
        keep_on_error: bool,
        /// The Lua script to run (`arg[0]`)
        #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
        file: PathBuf,
        /// Handed to the script as `arg[1]`, `arg[2]`… (and as `...`)
        #[arg(value_name = "ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Bring a scenario up: its setup, then its check (rolled back if either fails, or on
    /// SIGINT, SIGTERM, SIGHUP: exit 130, 143, 129)
    ///
    /// FILE.sh is an ip script (lines of ip, ip netns exec, sysctl -w, iptables,
    /// echo > /proc/sys/net/…, or ip -batch lines): parsed whole first (a line lunet
    /// does not understand is refused by file, line and word, nothing changed), then
    /// run as the instance named after the file (lab.sh → lab; `lunet down lab`).
    Up {
        /// A scenario: its name (bundled, or in $LUNET_PATH or ~/.config/lunet/scenarios), a Lua file, or an ip script (FILE.sh)
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// Override a param: --set key=value (typed like its default)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Undo everything a scenario or a run made, from its journal (also after a crash).
    ///
    /// Every step is tried; what could not be undone is reported (exit status 1) and stays
    /// in the journal, so `down` again retries just that.
    Down {
        /// A scenario's name or file, or a run's name as `lunet status` shows it (run-lab-4242);
        /// a file is never run: what was brought up or run from it is looked up by its path
        #[arg(value_name = "INSTANCE", required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every scenario and run in the state dir, newest first, going on past failures
        #[arg(long)]
        all: bool,
        /// Drop the journal afterwards even if some changes could not be undone (they are listed, and stay)
        #[arg(long)]
        forget: bool,
    },
    /// Run a scenario's check against what is up
    Check {
        /// A scenario that is up: its name, or the file it was brought up from (looked up, not run)
        #[arg(value_name = "SCENARIO")]
        scenario: String,
    },
    /// Scenarios that are up and what runs left, with what each made
    Status {
        /// Only this scenario or run (exit status 1 if it is not up)
        #[arg(value_name = "INSTANCE")]
        name: Option<String>,
    },
    /// Bundled and user scenarios, with descriptions and params
    Scenarios,
    /// Namespaces, links, addresses and routes
    Show {
        /// Only this namespace (`host`: lunet's own)
        #[arg(value_name = "NS")]
        ns: Option<String>,
        /// As JSON: an array of {name, links, addrs, routes}, each entry shaped like the Lua tables
        /// of ns:links(), ns:addrs(), ns:routes()
        #[arg(long)]
        json: bool,
    },
    /// The live topology as a picture (Graphviz)
    Graph {
        /// dot: Graphviz source; svg: a picture (needs Graphviz's `dot`)
        #[arg(long, default_value = "dot", value_parser = ["dot", "svg"])]
        format: String,
    },
    /// Print an ip script (FILE.sh) as the equivalent Lua scenario (runs with `lunet up`)
    ///
    /// Each change becomes the Lua call that makes it (`ip link add … type veth` →
    /// `ns:veth(…)`), preceded by the line it comes from; what has no call of its own
    /// (`ip route replace`, `ip -all netns exec`) stays an `ns:ip "…"` line.
    Convert {
        /// The ip script
        file: PathBuf,
    },
    /// Print what `up` would do as a shell script, changing nothing
    ///
    /// The plan is itself an ip script that `lunet up PLAN.sh` accepts.
    Plan {
        /// A scenario: its name, or a file
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// Override a param: --set key=value (typed like its default)
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Run a command inside a namespace, as `ip netns exec NS CMD` does (/etc/netns/NS bound
    /// over /etc, /sys remounted); its stdin, stdout, stderr and exit status are lunet's
    Exec {
        /// The namespace (`host`: lunet's own)
        #[arg(value_name = "NS")]
        ns: String,
        /// The program and its arguments (after `--`)
        #[arg(
            value_name = "CMD",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        cmd: Vec<String>,
    },
    /// An interactive shell inside a namespace ($SHELL, else /bin/sh), with LUNET_NS=NS
    /// exported and the prompt starting with [NS]
    Shell {
        /// The namespace (`host`: lunet's own)
        #[arg(value_name = "NS")]
        ns: String,
    },
    /// Print a completion script: `source <(lunet completions bash)`; scenario, instance and
    /// namespace names are completed from what is there when you press Tab
    Completions {
        /// The shell to complete for
        #[arg(value_name = "SHELL", value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Print lunet's man page (roff): `lunet man | man -l -`
    Man,
    /// Write LuaCATS definitions of the whole Lua API (lunet.d.lua) and a .luarc.json into DIR,
    /// so an editor with lua-language-server completes and checks scenario files there
    Types {
        /// The folder to write into (made if missing), e.g. a folder of scenarios
        #[arg(value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        dir: PathBuf,
    },
    /// Names for shell completion: scenarios, instances or namespaces (used by the scripts)
    #[command(name = "__complete", hide = true)]
    Complete {
        #[arg(value_parser = ["scenarios", "instances", "namespaces"])]
        kind: String,
    },
}

/// Ends lunet with this status, after printing the message (if any) as `lunet: MESSAGE`.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub message: Option<String>,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

/// Options every command sees.
pub struct Global {
    pub verbose: bool,
    pub sandbox: bool,
}

/// Set while a caller catches panics (and reports them itself).
pub static PANIC_CAUGHT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The last caught panic's message.
pub static PANIC_MESSAGE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

pub fn main() {
    // Like other command-line tools: a closed pipe (`lunet show | head`) ends us quietly.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // A bug must still read as one line, never as a Rust backtrace. Where a
    // caller catches the panic (a running script, to roll back), it reports it.
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("internal error (please report): {info}").replace('\n', " ");
        if PANIC_CAUGHT.load(std::sync::atomic::Ordering::Relaxed) {
            *PANIC_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
        } else {
            eprintln!("lunet: {msg}");
        }
    }));
    raise_fd_limit();
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli) {
        if let Some(x) = e.downcast_ref::<Exit>() {
            if let Some(m) = &x.message {
                eprintln!("lunet: {m}");
            }
            std::process::exit(x.code);
        }
        eprintln!("lunet: {e:#}");
        std::process::exit(1);
    }
}

/// Each open namespace holds a few fds (its file, its netlink socket): a lab of
/// hundreds of namespaces needs more than the usual soft limit of 1024.
fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// What the command line asks for, worked out before the sandbox is entered.
enum Action {
    Script(script::Chunk),
    Repl,
    Command(Command),
}

fn dispatch(cli: Cli) -> Result<()> {
    let g = Global {
        verbose: cli.verbose,
        sandbox: cli.sandbox,
    };
    let mut keep = cli.keep_on_error;
    let action = match (cli.exec, cli.command) {
        (Some(_), Some(_)) => bail!("-e CODE cannot be combined with a command"),
        (Some(code), None) => Action::Script(script::Chunk {
            name: "(command line)".into(),
            source: code.into_bytes(),
            args: vec!["-e".into()],
            instance: "e".into(),
            origin: "run:-e".into(),
        }),
        // An ip script is brought up as a scenario named after the file (`lab.sh` → lab).
        (None, Some(Command::Run { file, args, .. })) if file.to_string_lossy().ends_with(".sh") => {
            if !args.is_empty() {
                bail!("{}: an ip script takes no arguments", file.display());
            }
            Action::Command(Command::Up {
                scenario: file.display().to_string(),
                sets: vec![],
            })
        }
        (
            None,
            Some(Command::Run {
                file,
                args,
                keep_on_error,
            }),
        ) => {
            keep |= keep_on_error;
            let source = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let full = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            Action::Script(script::Chunk {
                args: std::iter::once(name.clone()).chain(args).collect(),
                name,
                source,
                instance: format!("run-{}", state::sanitize(&stem)),
                origin: format!("{}{}", state::RUN_ORIGIN, full.display()),
            })
        }
        (None, Some(cmd)) => Action::Command(cmd),
        (None, None) if std::io::stdin().is_terminal() => Action::Repl,
        (None, None) => {
            let mut source = vec![];
            std::io::stdin()
                .read_to_end(&mut source)
                .context("cannot read standard input")?;
            Action::Script(script::Chunk {
                name: "stdin".into(),
                source,
                args: vec!["-".into()],
                instance: "stdin".into(),
                origin: "run:stdin".into(),
            })
        }
    };
    // Unsharing must happen while the process still has one thread: before any runtime.
    if cli.sandbox {
        sandbox::enter()?;
        if matches!(action, Action::Command(Command::Exec { .. } | Command::Shell { .. })) {
            sandbox::fork_for_program()?;
        }
    }
    if matches!(
        action,
        Action::Script(_) | Action::Command(Command::Up { .. }) | Action::Command(Command::Down { .. })
    ) {
        progress::want();
    }
    match action {
        Action::Script(chunk) => script::run(chunk, g.verbose, g.sandbox, keep),
        Action::Repl => crate::repl::run(&g),
        Action::Command(cmd) => match cmd {
            Command::Up { scenario: s, sets } => scenario::up(&g, &s, &sets),
            Command::Down { name, all, forget } => scenario::down(&g, name.as_deref(), all, forget),
            Command::Check { scenario: s } => scenario::check(&g, &s),
            Command::Status { name } => scenario::status(&g, name.as_deref()),
            Command::Scenarios => scenario::list(&g),
            Command::Plan { scenario: s, sets } => scenario::plan(&g, &s, &sets),
            Command::Convert { file } => scenario::convert(&file),
            Command::Show { ns, json } => show::show(&g, ns.as_deref(), json),
            Command::Graph { format } => show::graph(&g, &format),
            Command::Exec { ns, cmd } => enter::exec(&ns, &cmd),
            Command::Shell { ns } => enter::shell(&ns),
            Command::Completions { shell } => complete::script(&shell),
            Command::Man => complete::man(),
            Command::Types { dir } => crate::luabind::docs::write_types(&dir),
            Command::Complete { kind } => complete::names(&kind),
            Command::Run { .. } => unreachable!("a script is an Action::Script"),
        },
    }
}

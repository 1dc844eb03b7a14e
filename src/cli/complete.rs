//! `lunet completions bash|zsh|fish`, `lunet man`, and the hidden `lunet
//! __complete KIND` that the completion scripts call for names only known at
//! Tab time: scenarios (`up`, `plan`, `check`), instances (`down`, `status`)
//! and namespaces (`exec`, `shell`, `show`).

use anyhow::{bail, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use super::{scenario, state, Cli};
use crate::core::netns;

/// The subcommands whose first positional argument is a scenario, an instance or a namespace.
const DYNAMIC: &[(&str, &str)] = &[
    ("up", "scenarios"),
    ("plan", "scenarios"),
    ("check", "scenarios"),
    ("down", "instances"),
    ("status", "instances"),
    ("exec", "namespaces"),
    ("shell", "namespaces"),
    ("show", "namespaces"),
];

fn generated(shell: Shell) -> String {
    let mut buf = vec![];
    clap_complete::generate(shell, &mut Cli::command(), "lunet", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The case arms `up) kind=scenarios ;;` for bash and zsh.
fn case_arms() -> String {
    DYNAMIC
        .iter()
        .map(|(cmd, kind)| format!("        {cmd}) kind={kind} ;;\n"))
        .collect()
}

fn bash() -> String {
    // clap's function becomes the fallback of ours, which first handles the names.
    let clap = generated(Shell::Bash).replacen("_lunet() {", "_lunet_clap() {", 1);
    format!(
        r#"{clap}
# Names known only at Tab time come from `lunet __complete KIND`.
_lunet() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local i w sub="" npos=0 kind=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
            --) break ;;
            --set|--format) ((i++)) ;;
            -e) ((i++)) ;;
            -*) ;;
            *) if [[ -z $sub ]]; then sub=$w; else ((npos++)); fi ;;
        esac
    done
    if [[ -n $sub && $npos -eq 0 && $cur != -* && $prev != --set && $prev != --format ]]; then
        case "$sub" in
{arms}        esac
        if [[ -n $kind ]]; then
            # Each name read as a line and compared as plain text: never expanded
            # (no compgen -W, which would run `$(…)` in a name); offered quoted with
            # %q so that inserting it into the command line runs nothing either.
            local name q
            COMPREPLY=()
            while IFS= read -r name; do
                printf -v q %q "$name"
                if [[ $name == "$cur"* || $q == "$cur"* ]]; then
                    COMPREPLY+=("$q")
                fi
            done < <("${{COMP_WORDS[0]}}" __complete "$kind" 2>/dev/null)
            return 0
        fi
    fi
    _lunet_clap "$@"
}}
"#,
        arms = case_arms()
    )
}

fn zsh() -> String {
    // clap's `_lunet` becomes `_lunet_clap`, the fallback of `_lunet_names`, which is
    // defined before the autoload dispatch at the end of clap's script.
    let clap = generated(Shell::Zsh).replacen("_lunet() {", "_lunet_clap() {", 1);
    let dispatch = "if [ \"$funcstack[1]\" = \"_lunet\" ]; then";
    let (head, _) = clap.split_once(dispatch).unwrap_or((clap.as_str(), ""));
    format!(
        r#"{head}
# Names known only at Tab time come from `lunet __complete KIND`.
_lunet_names() {{
    local sub="" kind="" npos=0 i w
    for ((i = 2; i < CURRENT; i++)); do
        w=${{words[i]}}
        case $w in
            --) break ;;
            --set|--format|-e) ((i++)) ;;
            -*) ;;
            *) if [[ -z $sub ]]; then sub=$w; else ((npos++)); fi ;;
        esac
    done
    if [[ -n $sub && $npos -eq 0 && ${{words[CURRENT]}} != -* ]]; then
        case $sub in
{arms}        esac
        if [[ -n $kind ]]; then
            # Split at line ends only, never expanded; compadd quotes each name
            # as it inserts it (no -Q), so `$(…)`, `~` or `{{a,b}}` in a name stay text.
            local -a names
            names=(${{(f)"$(${{words[1]}} __complete $kind 2>/dev/null)"}})
            compadd -a names
            return
        fi
    fi
    _lunet_clap "$@"
}}

if [ "$funcstack[1]" = "_lunet" ]; then
    _lunet_names "$@"
else
    compdef _lunet_names lunet
fi
"#,
        arms = case_arms()
    )
}

fn fish() -> String {
    let mut s = generated(Shell::Fish);
    s += "\n# Names known only at Tab time come from `lunet __complete KIND`.\n";
    for (cmd, kind) in DYNAMIC {
        s += &format!(
            "complete -c lunet -n \"__fish_lunet_using_subcommand {cmd}; and test (count (commandline -opc | string match -v -- '-*')) -le 2\" -f -a \"(lunet __complete {kind} 2>/dev/null)\"\n"
        );
    }
    s
}

pub fn script(shell: &str) -> Result<()> {
    let text = match shell {
        "bash" => bash(),
        "zsh" => zsh(),
        "fish" => fish(),
        other => bail!("completions: unknown shell {other:?} (bash, zsh or fish)"),
    };
    print!("{text}");
    Ok(())
}

/// Text for roff: backslashes escaped, no line taken for a request.
fn roff(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One page: clap_mangen's title, name, synopsis, description and options, then
/// every command with its arguments (no separate lunet-CMD pages to go missing).
pub fn man() -> Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = clap_mangen::Man::new(cmd.clone());
    let mut out = vec![];
    page.render_title(&mut out)?;
    page.render_name_section(&mut out)?;
    page.render_synopsis_section(&mut out)?;
    page.render_description_section(&mut out)?;
    page.render_options_section(&mut out)?;
    let mut s = String::from_utf8_lossy(&out).into_owned();
    s += ".SH COMMANDS\n";
    for sub in cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
    {
        let usage = sub.clone().render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim();
        s += &format!(".SS \"{}\"\n", roff(usage).replace('"', "\\(dq"));
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        s += &format!("{}\n", roff(&about));
        for arg in sub.get_arguments() {
            if arg.is_hide_set() || arg.is_global_set() || ["help", "version"].contains(&arg.get_id().as_str()) {
                continue;
            }
            let name = match (arg.get_long(), arg.get_value_names()) {
                (Some(l), Some(v)) if arg.get_action().takes_values() => format!("--{l} {}", v.join(" ")),
                (Some(l), _) => format!("--{l}"),
                (None, Some(v)) => v.join(" "),
                (None, None) => arg.get_id().as_str().to_uppercase(),
            };
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .collect();
            let help = if values.is_empty() {
                help
            } else {
                format!("{help} [{}]", values.join(", "))
            };
            s += &format!(".TP\n\\fB{}\\fR\n{}\n", roff(&name), roff(help.trim()));
        }
    }
    s += ".SH ENVIRONMENT\n";
    for (k, v) in [
        ("LUNET_STATE_DIR", "where journals are kept (default /run/lunet)"),
        (
            "LUNET_PATH",
            "colon-separated directories searched for scenarios NAME.lua (then ~/.config/lunet/scenarios)",
        ),
        (
            "LUNET_IPTABLES",
            "nft or legacy: the iptables backend (default: whatever iptables is)",
        ),
        ("SHELL", "the shell of lunet shell (default /bin/sh)"),
        (
            "LUNET_NS",
            "set by lunet exec and lunet shell to the namespace the program runs in",
        ),
    ] {
        s += &format!(".TP\n\\fB{k}\\fR\n{}\n", roff(v));
    }
    s += ".SH FILES\n";
    for (k, v) in [
        ("/run/netns/NAME", "the namespaces (iproute2's)"),
        (
            "/etc/netns/NAME/",
            "files bound over /etc for programs run in namespace NAME",
        ),
        ("/run/lunet/NAME.journal", "what a scenario or run made, for lunet down"),
    ] {
        s += &format!(".TP\n\\fB{}\\fR\n{}\n", roff(k), roff(v));
    }
    s += ".SH SEE ALSO\nip(8), ip\\-netns(8), iptables(8)\n";
    let mut tail = vec![];
    page.render_version_section(&mut tail)?;
    s += &String::from_utf8_lossy(&tail);
    use std::io::Write;
    std::io::stdout().write_all(s.as_bytes())?;
    Ok(())
}

/// One name a line; never fails (a completion must not print errors).
pub fn names(kind: &str) -> Result<()> {
    let names: Vec<String> = match kind {
        "scenarios" => scenario::names(),
        "instances" => state::instances(),
        "namespaces" => {
            let mut v = netns::list().unwrap_or_default();
            v.push("host".into());
            v
        }
        _ => vec![],
    };
    // One name a line: a name with a line break in it cannot be offered (it would
    // become two), so it is left out; every other byte is printed as it is and the
    // scripts offer it literally.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for n in names.iter().filter(|n| !n.contains('\n')) {
        let _ = out.write_all(n.as_bytes());
        let _ = out.write_all(b"\n");
    }
    Ok(())
}

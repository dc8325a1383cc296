//! `oci exec ID CMD [ARGS...]`: the runtime's `exec` with our stdio; the exit status
//! is the command's.

use anyhow::Result;
use clap::Args;

use crate::runtime::ctx::Ctx;

#[derive(Args, Debug)]
pub struct Exec {
    /// Give the process a terminal (sifrun holds it and copies our stdio)
    #[arg(short, long)]
    pub tty: bool,
    /// Container identifier
    pub container_id: String,
    /// Command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(args: Exec, ctx: &Ctx) -> Result<u8> {
    crate::runtime::exec::exec(
        liboci_cli::Exec {
            console_socket: None,
            cwd: None,
            env: Vec::new(),
            tty: args.tty,
            user: None,
            additional_gids: Vec::new(),
            process: None,
            detach: false,
            pid_file: None,
            process_label: None,
            apparmor: None,
            no_new_privs: false,
            cap: Vec::new(),
            preserve_fds: 0,
            ignore_paused: false,
            cgroup: None,
            container_id: args.container_id,
            command: args.command,
        },
        None,
        ctx,
    )
}

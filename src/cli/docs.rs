//! Arguments of `sifrun completion` and the hidden `sifrun __man` (installation aids).

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
// after_help, not long_about: the variant's doc comment in `Command` sets the about texts.
#[command(
    after_help = "The script goes to stdout. hack/install.sh installs them; by hand: \
`source <(sifrun completion bash)`, or write the output to \
/usr/share/bash-completion/completions/sifrun, to _sifrun in a directory on zsh's $fpath, or \
to ~/.config/fish/completions/sifrun.fish."
)]
pub struct Completion {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct Man {
    /// Directory to write the pages into (sifrun.8, sifrun-create.8, ...)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

//! What the binary says about itself and its settings: `neardup config` (the effective
//! config file as TOML), `neardup completions SHELL` and `neardup man [COMMAND]`.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::args::Cli;

/// Prints `config` as a complete config file.
#[cfg(feature = "server")]
pub(crate) fn print_config(config: &neardup::config::ServiceConfig) -> Result<()> {
    let text = toml::to_string(config).context("the config does not fit in TOML")?;
    print!("{text}");
    Ok(())
}

/// Prints the detector settings as a config file with only its `[detector]` table.
#[cfg(not(feature = "server"))]
pub(crate) fn print_detector_config(config: &neardup::DetectorConfig) -> Result<()> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        detector: &'a neardup::DetectorConfig,
    }
    let text =
        toml::to_string(&File { detector: config }).context("the config does not fit in TOML")?;
    print!("{text}");
    Ok(())
}

/// Prints the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "neardup", &mut std::io::stdout().lock());
    Ok(())
}

/// Prints neardup(1), or neardup-COMMAND(1) for a subcommand.
pub(crate) fn man_page(subcommand: Option<&str>) -> Result<()> {
    let mut command = Cli::command();
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(found) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                bail!("no command {name:?}; one of: {}", names.join(", "));
            };
            // `build` named it neardup-COMMAND, the page's title.
            found.clone()
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out).context("failed to render the man page")?;
    std::io::stdout().lock().write_all(&out).context("failed to write the man page")
}

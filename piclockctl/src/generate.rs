//! Shell completions and man pages, generated from the clap definitions.

use crate::cli::{Cli, Shell};
use crate::failure::{Failure, EXIT_FAILURE};
use clap::CommandFactory;
use std::path::Path;

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: Shell) {
    let mut cmd = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "piclockctl", &mut std::io::stdout());
}

/// Writes `piclockctl.1` and one `piclockctl-<command>.1` per visible
/// subcommand into `dir`; returns the files written.
pub fn man_pages(dir: &Path) -> Result<Vec<std::path::PathBuf>, Failure> {
    let io = |e: std::io::Error, what: &Path| Failure::new(EXIT_FAILURE, format!("{}: {e}", what.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    let cmd = Cli::command();
    let mut written = Vec::new();
    let mut write = |name: String, page: clap::Command| -> Result<(), Failure> {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).title(name.to_uppercase()).render(&mut out).map_err(|e| io(e, &path))?;
        std::fs::write(&path, out).map_err(|e| io(e, &path))?;
        written.push(path);
        Ok(())
    };
    write("piclockctl".to_owned(), cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("piclockctl-{}", sub.get_name());
        write(name.clone(), sub.clone().name(name))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_visible_command() {
        let dir = std::env::temp_dir().join(format!("piclockctl-man-{}", std::process::id()));
        let files = man_pages(&dir).expect("written");
        let names: Vec<String> =
            files.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
        assert!(names.contains(&"piclockctl.1".to_owned()));
        assert!(names.contains(&"piclockctl-set-hands.1".to_owned()));
        assert!(!names.iter().any(|n| n.contains("generate-man")), "hidden commands get no page");
        let main = std::fs::read_to_string(dir.join("piclockctl.1")).expect("read");
        assert!(main.contains("Exit status") && main.contains("no\\-ask\\-password"), "{main}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
